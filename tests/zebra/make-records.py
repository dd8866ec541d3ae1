#!/usr/bin/env python3
"""Writes the test catalogue: MARC21 and UNIMARC/CNMARC records of books with discs (and
some without), covering the cases real catalogues hold, plus a ground-truth manifest that
the tests check Spindle's mapping and linking against. Standard library only; the output is
deterministic (re-running gives byte-identical files).

    make-records.py OUT_DIR                 # the catalogue and its manifest
    make-records.py OUT_DIR --bench N       # also bench.xml: N plain MARC21 book+CD records
                                            # (ISBN 978-7-9xx…, barcode BENCH…) for load tests

Titles, authors, ISBNs and barcodes are invented; check digits are computed except where a
record has a wrong one on purpose. Layout facts: ../../README.md and the ILS reference.
"""
import json
import os
import sys
import unicodedata
from xml.sax.saxutils import escape

NS = "http://www.loc.gov/MARC21/slim"


def isbn13(first12):
    s = sum(int(d) * (1 if i % 2 == 0 else 3) for i, d in enumerate(first12))
    return first12 + str((10 - s % 10) % 10)


def isbn10(first9):
    s = sum(int(d) * (10 - i) for i, d in enumerate(first9))
    c = (11 - s % 11) % 11
    return first9 + ("X" if c == 10 else str(c))


def to13(i10):
    return isbn13("978" + i10[:9])


def hy13(i):  # a plausible hyphenation for display in records
    return f"{i[:3]}-{i[3]}-{i[4:7]}-{i[7:12]}-{i[12]}"


def hy10(i):
    return f"{i[0]}-{i[1:3]}-{i[3:9]}-{i[9]}"


def m21_008(year, lang="eng"):
    s = f"150101s{year}    xxu           000 0 {lang} d"
    return s.ljust(40)[:40]


def uni_100(year):
    return f"20150101d{year}    em y0chiy50      ea"[:36].ljust(36)


def df(tag, subs, ind1=" ", ind2=" "):
    return ("d", tag, ind1, ind2, subs)


def cf(tag, value):
    return ("c", tag, value)


MARC21 = []
UNIMARC = []


def rec21(rid, leader, fields, truth):
    MARC21.append((rid, leader, [cf("001", rid)] + fields, truth))


def recuni(rid, leader, fields, truth):
    UNIMARC.append((rid, leader, [cf("001", rid)] + fields, truth))


L21 = "00000nam a2200000 a 4500"
L21_DISC = "00000nmm a2200000 a 4500"
L21_DEL = "00000dam a2200000 a 4500"
LUNI = "00000nam0 2200000   450 "
LUNI_DISC = "00000nlm0 2200000   450 "

# ---- MARC21 ---------------------------------------------------------------------------
i = isbn10("013146527")
rec21("100001", L21, [
    cf("008", m21_008(2005)),
    df("020", [("a", f"{hy10(i)} (alk. paper)")]),
    df("245", [("a", "Programming in C :"), ("b", "a laboratory approach /"), ("c", "Wang Lei.")], "1", "0"),
    df("260", [("a", "Upper Saddle River, NJ :"), ("b", "Prentice Hall,"), ("c", "2005.")]),
    df("300", [("a", "xv, 512 p. :"), ("b", "ill. ;"), ("c", "24 cm. +"), ("e", "1 CD-ROM (4 3/4 in.)")]),
    df("050", [("a", "QA76.73.C15"), ("b", "W36 2005")], "0", "0"),
    df("100", [("a", "Wang, Lei.")], "1"),
    df("490", [("a", "Prentice Hall series in computing ;"), ("v", "3")], "1"),
    df("650", [("a", "C (Computer program language)"), ("v", "Problems, exercises, etc.")], " ", "0"),
    df("852", [("a", "ZZU"), ("b", "MAIN"), ("h", "QA76.73.C15"), ("i", "W36 2005"), ("p", "B100001")], "0"),
    df("852", [("a", "ZZU"), ("b", "MEDIA"), ("h", "QA76.73.C15"), ("i", "W36 2005 CD"), ("p", "D100001"), ("3", "CD-ROM")], "0"),
], dict(title="Programming in C : a laboratory approach", year=2005, isbn13=[to13(i)], discs=1, kind="cd-rom",
        book_barcodes=["B100001"], disc_barcodes=["D100001"], tags=["isbn10-qualifier", "852"],
        responsibility="Wang Lei.", series=["Prentice Hall series in computing ; 3"],
        subjects=["C (Computer program language) -- Problems, exercises, etc"]))

a, b = isbn10("059651432"), "9780596514327"
rec21("100002", L21, [
    cf("008", m21_008(2007)),
    df("020", [("a", a)]), df("020", [("a", b)]),
    df("245", [("a", "Learning data structures /"), ("c", "Li Ming.")], "1", "0"),
    df("264", [("a", "Sebastopol, CA :"), ("b", "O'Reilly,"), ("c", "2007.")], " ", "1"),
    df("300", [("a", "xii, 380 pages ;"), ("c", "24 cm +"), ("e", "1 computer optical disc (4 3/4 in.)")]),
    df("952", [("a", "MAIN"), ("b", "MAIN"), ("o", "QA76.9 .L5 2007"), ("p", "B100002"), ("y", "BK")]),
    df("999", [("c", "2"), ("d", "2")]),
], dict(title="Learning data structures", year=2007, isbn13=[b], discs=1, kind="cd-rom",
        book_barcodes=["B100002"], disc_barcodes=[], tags=["two-isbns-10-13", "koha-952"]))

a, b = isbn13("978111800818"), isbn13("978111806451")
rec21("100003", L21, [
    cf("008", m21_008(2012)),
    df("020", [("a", a), ("q", "(hardback)"), ("c", "$89.95")]),
    df("020", [("a", b), ("q", "(ebook)")]),
    df("245", [("a", "Modern signal processing /"), ("c", "Chen Yu.")], "1", "0"),
    df("264", [("b", "Wiley,"), ("c", "2012.")], " ", "1"),
    df("300", [("a", "xx, 640 pages ;"), ("c", "26 cm +"), ("e", "1 DVD-ROM (4 3/4 in.)")]),
    df("337", [("a", "computer"), ("b", "c"), ("3", "DVD-ROM")]),
    df("338", [("a", "computer disc"), ("b", "cd"), ("3", "DVD-ROM")]),
    df("852", [("p", "B100003")]),
], dict(title="Modern signal processing", year=2012, isbn13=[a, b], discs=1, kind="dvd",
        book_barcodes=["B100003"], disc_barcodes=[], tags=["rda-q-c", "337-338"]))

a = isbn13("978019442167")
rec21("100004", L21, [
    cf("008", m21_008(2010)),
    df("020", [("a", f"{hy13(a)} (pbk. with audio CDs : alk. paper)")]),
    df("245", [("a", "English listening in action /"), ("c", "Smith.")], "1", "0"),
    df("260", [("b", "Oxford University Press,"), ("c", "c2010.")]),
    df("300", [("a", "96 p. ;"), ("c", "28 cm. +"), ("e", "2 sound discs (digital ; 4 3/4 in.)")]),
    df("952", [("p", "B100004"), ("y", "BK")]),
    df("952", [("p", "D100004-1"), ("y", "CD"), ("3", "Disc 1")]),
    df("952", [("p", "D100004-2"), ("y", "CD"), ("3", "Disc 2")]),
], dict(title="English listening in action", year=2010, isbn13=[a], discs=2, kind="audio",
        book_barcodes=["B100004"], disc_barcodes=["D100004-1", "D100004-2"], tags=["2-discs", "disc-own-barcodes"]))

i = isbn10("020163361")
rec21("100005", L21, [
    cf("008", m21_008(1995)),
    df("020", [("a", i.lower())]),
    df("245", [("a", "Design patterns workbook /"), ("c", "Gamma.")], "1", "0"),
    df("260", [("b", "Addison-Wesley,"), ("c", "1995.")]),
    df("300", [("a", "395 p. ;"), ("c", "24 cm. +"), ("e", "1 CD-ROM")]),
    df("852", [("p", "B100005")]),
], dict(title="Design patterns workbook", year=1995, isbn13=[to13(i)], discs=1, kind="cd-rom",
        book_barcodes=["B100005"], disc_barcodes=[], tags=["lowercase-x", "disc-no-barcode"]))

good = isbn13("978013110362")
bad = good[:12] + str((int(good[12]) + 1) % 10)
rec21("100006", L21, [
    cf("008", m21_008(1988)),
    df("020", [("a", bad)]),
    df("245", [("a", "The C programming exercises /"), ("c", "Kernighan.")], "1", "4"),
    df("260", [("b", "Prentice Hall,"), ("c", "1988.")]),
    df("300", [("a", "272 p. ;"), ("c", "24 cm. +"), ("e", "1 CD-ROM")]),
    df("852", [("p", "B100006")]),
], dict(title="The C programming exercises", year=1988, isbn13=[], raw_isbns=[bad], discs=1, kind="cd-rom",
        book_barcodes=["B100006"], disc_barcodes=[], tags=["wrong-check-digit"]))

rec21("100007", L21, [
    cf("008", m21_008(2016, "ger")),
    df("020", [("a", isbn13("978389864364"))]),
    df("100", [("a", unicodedata.normalize("NFD", "Müller, Jürgen."))], "1"),
    df("245", [("a", unicodedata.normalize("NFD", "Grundkurs Programmieren in Java für Anfänger /")), ("c", "Müller.")], "1", "0"),
    df("264", [("b", "dpunkt,"), ("c", "2016.")], " ", "1"),
    df("300", [("a", "420 Seiten ;"), ("e", "1 CD-ROM")]),
    df("852", [("p", "B100007")]),
], dict(title="Grundkurs Programmieren in Java für Anfänger", year=2016, isbn13=[isbn13("978389864364")], discs=1,
        kind="cd-rom", book_barcodes=["B100007"], disc_barcodes=[], tags=["nfd"]))

rec21("100008", L21, [
    cf("008", m21_008(2003, "fre")),
    df("020", [("a", isbn13("978210005812"))]),
    df("245", [("a", "Introduction à l'informatique /"), ("c", "Dupont.")], "1", "0"),
    df("260", [("b", "Dunod,"), ("c", "2003.")]),
    df("300", [("a", "310 p. ;"), ("e", "1 disque optique numérique (CD-ROM)")]),
    df("852", [("p", "B100008")]),
], dict(title="Introduction à l'informatique", year=2003, isbn13=[isbn13("978210005812")], discs=1, kind="cd-rom",
        book_barcodes=["B100008"], disc_barcodes=[], tags=["french"]))

i = isbn10("032112521")
rec21("100009", L21, [
    cf("008", m21_008(2004)),
    df("020", [("a", f"{hy10(i)} (pbk. : alk. paper)")]),
    df("245", [("a", "Software testing techniques /"), ("c", "Beizer.")], "1", "0"),
    df("260", [("b", "Addison-Wesley,"), ("c", "2004.")]),
    df("300", [("a", "xxi, 432 p. ;"), ("c", "24 cm.")]),
    df("500", [("a", "Accompanied by a CD-ROM (in pocket).")]),
    df("852", [("p", "B100009")]),
], dict(title="Software testing techniques", year=2004, isbn13=[to13(i)], discs=1, kind="cd-rom",
        book_barcodes=["B100009"], disc_barcodes=[], tags=["disc-in-note"]))

i = isbn10("013146527")
rec21("100010", L21_DISC, [
    cf("008", m21_008(2005)),
    df("245", [("a", "Programming in C :"), ("b", "a laboratory approach."), ("p", "Companion CD-ROM.")], "0", "0"),
    df("300", [("a", "1 computer optical disc ;"), ("c", "4 3/4 in.")]),
    df("773", [("t", "Programming in C : a laboratory approach"), ("w", "(CN-ZZU)100001"), ("z", i)], "0"),
    df("852", [("p", "D100001")]),
], dict(title="Programming in C : a laboratory approach. Companion CD-ROM.", year=2005, isbn13=[], host="100001",
        discs=1, kind="cd-rom", book_barcodes=[], disc_barcodes=["D100001"], tags=["disc-record", "773"]))

rec21("100011", L21, [
    cf("008", m21_008(2011)),
    df("245", [("a", "Proceedings of the Workshop on Digital Libraries /"), ("c", "edited by Zhao.")], "0", "0"),
    df("260", [("b", "ZZU Press,"), ("c", "2011.")]),
    df("300", [("a", "200 p. ;"), ("e", "1 CD-ROM")]),
    df("852", [("p", "B100011")]),
], dict(title="Proceedings of the Workshop on Digital Libraries", year=2011, isbn13=[], discs=1, kind="cd-rom",
        book_barcodes=["B100011"], disc_barcodes=[], tags=["no-isbn"]))

for rid, year in (("100012", 2009), ("100013", 2014)):
    rec21(rid, L21, [
        cf("008", m21_008(year)),
        df("245", [("a", "Laboratory manual for general physics /"), ("c", "Physics Dept.")], "0", "0"),
        df("260", [("b", "ZZU,"), ("c", f"{year}.")]),
        df("300", [("a", "120 p. ;"), ("e", "1 CD-ROM")]),
        df("852", [("p", f"B{rid}")]),
    ], dict(title="Laboratory manual for general physics", year=year, isbn13=[], discs=1, kind="cd-rom",
            book_barcodes=[f"B{rid}"], disc_barcodes=[], tags=["no-isbn", "same-title-two-years"]))

rec21("100014", L21, [
    cf("007", "vd cvaizq"),
    cf("008", m21_008(2008)),
    df("020", [("a", isbn13("978750273411"))]),
    df("245", [("a", "Chinese for beginners :"), ("b", "video course.")], "0", "0"),
    df("260", [("b", "Beijing Language Press,"), ("c", "2008.")]),
    df("300", [("a", "150 p. ;"), ("e", "1 videodisc (DVD)")]),
    df("538", [("a", "DVD; region 2; PAL.")]),
    df("852", [("p", "B100014")]),
], dict(title="Chinese for beginners : video course.", year=2008, isbn13=[isbn13("978750273411")], discs=1,
        kind="dvd-video", book_barcodes=["B100014"], disc_barcodes=[], tags=["dvd-video", "007"]))

a = isbn13("978026253305")
rec21("100015", L21, [
    cf("008", m21_008(2011)),
    df("020", [("a", f"{a} : $45.00")]),
    df("245", [("a", "Computational thinking /"), ("c", "Papert.")], "1", "0"),
    df("260", [("b", "MIT Press,"), ("c", "2011.")]),
    df("300", [("a", "300 p. ;"), ("e", "1 CD-ROM")]),
    df("852", [("p", "B100015")]),
], dict(title="Computational thinking", year=2011, isbn13=[a], discs=1, kind="cd-rom",
        book_barcodes=["B100015"], disc_barcodes=[], tags=["price-in-a"]))

rec21("100016", L21, [
    cf("008", m21_008(2013)),
    df("020", [("a", isbn13("978712134567"))]),
    df("245", [("a", "Multimedia authoring /"), ("c", "Zhou.")], "1", "0"),
    df("260", [("b", "PHEI,"), ("c", "2013.")]),
    df("300", [("a", "280 p. ;"), ("e", "2 CD-ROMs (4 3/4 in.)")]),
    df("852", [("p", "B100016")]),
], dict(title="Multimedia authoring", year=2013, isbn13=[isbn13("978712134567")], discs=2, kind="cd-rom",
        book_barcodes=["B100016"], disc_barcodes=[], tags=["2-discs"]))

rec21("100019", L21, [
    cf("008", m21_008(2015)),
    df("020", [("a", isbn13("978756001234"))]),
    df("245", [("a", "Spoken English 100 days /"), ("c", "Liu.")], "1", "0"),
    df("260", [("b", "FLTRP,"), ("c", "2015.")]),
    df("300", [("a", "180 p. ;"), ("e", "1 CD (MP3)")]),
    df("852", [("p", "B100019")]),
], dict(title="Spoken English 100 days", year=2015, isbn13=[isbn13("978756001234")], discs=1, kind="mp3",
        book_barcodes=["B100019"], disc_barcodes=[], tags=["mp3"]))

rec21("100020", L21, [
    cf("008", m21_008(1999)),
    df("020", [("a", isbn13("978703006789"))]),
    df("245", [("a", "Numerical methods toolkit /"), ("c", "Sun.")], "1", "0"),
    df("260", [("b", "Science Press,"), ("c", "1999.")]),
    df("300", [("a", "350 p. ;"), ("e", "1 computer disk (3 1/2 in.) + 1 CD-ROM")]),
    df("852", [("p", "B100020")]),
], dict(title="Numerical methods toolkit", year=1999, isbn13=[isbn13("978703006789")], discs=1, kind="cd-rom",
        book_barcodes=["B100020"], disc_barcodes=[], tags=["floppy-and-cd"]))

a = isbn13("978730245678")
rec21("100021", L21, [
    cf("008", m21_008(2017, "chi")),
    df("020", [("a", f"{hy13(a)} (平装)"), ("c", "CNY39.00")]),
    df("084", [("a", "TP311.13"), ("2", "clc")]),
    df("245", [("6", "880-02"), ("a", "Shu ju ku yuan li yu ying yong jiao cheng /"), ("c", "Zhang Wei.")], "1", "0"),
    df("880", [("6", "245-02/$1"), ("a", "数据库原理与应用教程 /"), ("c", "张伟.")], "1", "0"),
    df("264", [("b", "Qing hua da xue chu ban she,"), ("c", "2017.")], " ", "1"),
    df("300", [("a", "310 pages ;"), ("e", "1 CD-ROM")]),
    df("852", [("p", "B100021")]),
], dict(title="Shu ju ku yuan li yu ying yong jiao cheng", vernacular="数据库原理与应用教程", year=2017, isbn13=[a],
        discs=1, kind="cd-rom", book_barcodes=["B100021"], disc_barcodes=[], clc="TP311.13", tags=["880", "clc-084", "cn-qualifier"]))

a = isbn13("978711140701")
rec21("100024", L21, [
    cf("008", m21_008(2013, "chi")),
    df("020", [("a", f"{a}（平装）")]),
    df("245", [("a", "计算机网络实验教程 /"), ("c", "王强.")], "1", "0"),
    df("264", [("b", "机械工业出版社,"), ("c", "2013.")], " ", "1"),
    df("300", [("a", "260页 ;"), ("e", "1光盘")]),
    df("852", [("p", "B100024")]),
], dict(title="计算机网络实验教程", year=2013, isbn13=[a], discs=1, kind="cd-rom", book_barcodes=["B100024"],
        disc_barcodes=[], tags=["full-width-qualifier"]))

rec21("100025", L21, [
    cf("008", m21_008(2018, "jpn")),
    df("020", [("a", isbn13("978478731234"))]),
    df("245", [("a", "日本語の基礎 /"), ("c", "山田.")], "1", "0"),
    df("264", [("b", "凡人社,"), ("c", "2018.")], " ", "1"),
    df("300", [("a", "200 p. ;"), ("e", "CD 2枚")]),
    df("852", [("p", "B100025")]),
], dict(title="日本語の基礎", year=2018, isbn13=[isbn13("978478731234")], discs=2, kind="cd-rom",
        book_barcodes=["B100025"], disc_barcodes=[], tags=["japanese", "2-discs"]))

a, b = isbn13("978704012345"), isbn13("978704012346")
rec21("100026", L21, [
    cf("008", m21_008(2019, "chi")),
    df("020", [("a", a), ("q", "(精装)")]), df("020", [("a", b), ("q", "(平装)")]),
    df("245", [("a", "高等数学 /"), ("c", "同济大学.")], "1", "0"),
    df("264", [("b", "高等教育出版社,"), ("c", "2019.")], " ", "1"),
    df("300", [("a", "400页 ;"), ("e", "DVD光盘2张")]),
    df("952", [("p", "B100026")]),
    df("952", [("p", "D100026-1"), ("3", "Disc 1")]),
    df("952", [("p", "D100026-2"), ("3", "Disc 2")]),
], dict(title="高等数学", year=2019, isbn13=[a, b], discs=2, kind="dvd", book_barcodes=["B100026"],
        disc_barcodes=["D100026-1", "D100026-2"], tags=["two-isbns-binding", "2-discs"]))

rec21("100028", L21_DEL, [
    cf("008", m21_008(2001)),
    df("020", [("a", isbn13("978757770001"))]),
    df("245", [("a", "Withdrawn title /"), ("c", "Nobody.")], "1", "0"),
    df("300", [("a", "100 p. ;"), ("e", "1 CD-ROM")]),
], dict(title="Withdrawn title", year=2001, isbn13=[isbn13("978757770001")], discs=1, kind="cd-rom", deleted=True,
        book_barcodes=[], disc_barcodes=[], tags=["deleted"]))

# ---- UNIMARC / CNMARC -----------------------------------------------------------------
a = isbn13("978711537950")
recuni("012015000101", LUNI, [
    df("010", [("a", hy13(a)), ("d", "CNY45.00")]),
    df("100", [("a", uni_100(2015))]),
    df("200", [("a", "C++程序设计教程"), ("9", "C++ cheng xu she ji jiao cheng"), ("f", "张伟, 刘芳编著")], "1"),
    df("210", [("a", "北京"), ("c", "人民邮电出版社"), ("d", "2015")]),
    df("215", [("a", "320页"), ("c", "图"), ("d", "26cm"), ("e", "1光盘")]),
    df("225", [("a", "高等学校计算机教材")], "2"),
    df("606", [("a", "C语言"), ("x", "程序设计"), ("j", "教材")], "0"),
    df("690", [("a", "TP312C++"), ("v", "5")]),
    df("701", [("a", "张伟"), ("4", "编著")], " ", "0"),
    df("905", [("a", "ZZU"), ("b", "C00101001"), ("c", "中文图书借阅室"), ("d", "TP312C++"), ("e", "123")]),
    df("905", [("a", "ZZU"), ("b", "G00101001"), ("c", "电子阅览室光盘库"), ("d", "TP312C++"), ("e", "123")]),
], dict(title="C++程序设计教程", pinyin="C++ cheng xu she ji jiao cheng", year=2015, isbn13=[a], discs=1, kind="cd-rom",
        book_barcodes=["C00101001"], disc_barcodes=["G00101001"], clc="TP312C++", tags=["905", "1光盘"],
        responsibility="张伟, 刘芳编著", series=["高等学校计算机教材"], subjects=["C语言 -- 程序设计 -- 教材"]))

recuni("012015000112", LUNI_DISC, [
    df("100", [("a", uni_100(2015))]),
    df("200", [("a", "C++程序设计教程"), ("e", "配套光盘")], "1"),
    df("215", [("a", "1光盘"), ("d", "12cm")]),
    df("422", [("0", "012015000101"), ("t", "C++程序设计教程")]),
    df("905", [("a", "ZZU"), ("b", "G00101001"), ("c", "电子阅览室光盘库")]),
], dict(title="C++程序设计教程 配套光盘", year=2015, isbn13=[], host="012015000101", discs=1, kind="cd-rom",
        book_barcodes=[], disc_barcodes=["G00101001"], tags=["disc-record", "422"]))

i = isbn10("704015678")
recuni("012005000102", LUNI, [
    df("010", [("a", hy10(i)), ("d", "CNY29.00(含光盘)")]),
    df("100", [("a", uni_100(2005))]),
    df("200", [("a", "电路分析基础"), ("f", "李华主编")], "1"),
    df("210", [("c", "高等教育出版社"), ("d", "2005")]),
    df("215", [("a", "300页"), ("e", "光盘1张")]),
    df("905", [("b", "C00102001")]),
], dict(title="电路分析基础", year=2005, isbn13=[to13(i)], discs=1, kind="cd-rom", book_barcodes=["C00102001"],
        disc_barcodes=[], tags=["price-qualifier-disc", "光盘1张"]))

a = isbn13("978711545678")
recuni("012016000104", LUNI, [
    df("010", [("a", a), ("d", "CNY79.00(含2DVD)")]),
    df("100", [("a", uni_100(2016))]),
    df("200", [("a", "Photoshop图像处理案例教程"), ("f", "陈明编著")], "1"),
    df("210", [("c", "人民邮电出版社"), ("d", "2016")]),
    df("215", [("a", "350页"), ("e", "光盘2张(DVD)")]),
    df("905", [("b", "C00104001"), ("c", "中文图书借阅室")]),
    df("905", [("b", "G00104001"), ("c", "光盘库"), ("f", "光盘1")]),
    df("905", [("b", "G00104002"), ("c", "光盘库"), ("f", "光盘2")]),
], dict(title="Photoshop图像处理案例教程", year=2016, isbn13=[a], discs=2, kind="dvd", book_barcodes=["C00104001"],
        disc_barcodes=["G00104001", "G00104002"], tags=["光盘2张(DVD)", "disc-own-barcodes"]))

i = isbn10("711201234")
recuni("011996000118", LUNI, [
    df("010", [("a", i), ("d", "CNY25.00(含软盘)")]),
    df("100", [("a", uni_100(1996))]),
    df("200", [("a", "BASIC语言程序设计"), ("f", "赵刚")], "1"),
    df("210", [("d", "1996")]),
    df("215", [("a", "200页"), ("e", "软盘2张")]),
    df("905", [("b", "C00118001")]),
], dict(title="BASIC语言程序设计", year=1996, isbn13=[to13(i)], discs=0, kind=None, book_barcodes=["C00118001"],
        disc_barcodes=[], tags=["floppy-not-disc"]))

i = isbn10("756000123")
recuni("011998000119", LUNI, [
    df("010", [("a", i)]),
    df("100", [("a", uni_100(1998))]),
    df("200", [("a", "英语口语速成"), ("f", "钱丽")], "1"),
    df("210", [("d", "1998")]),
    df("215", [("a", "150页"), ("e", "磁带2盒")]),
    df("905", [("b", "C00119001")]),
], dict(title="英语口语速成", year=1998, isbn13=[to13(i)], discs=0, kind=None, book_barcodes=["C00119001"],
        disc_barcodes=[], tags=["cassette-not-disc"]))

a = isbn13("978712135678")
recuni("012019000108", LUNI, [
    df("010", [("a", a), ("b", "附光盘"), ("d", "CNY49.00")]),
    df("100", [("a", uni_100(2019))]),
    df("200", [("a", "单片机原理及应用"), ("f", "周强")], "1"),
    df("210", [("d", "2019")]),
    df("215", [("a", "280页"), ("e", "光盘1片")]),
    df("905", [("b", "C00108001")]),
], dict(title="单片机原理及应用", year=2019, isbn13=[a], discs=1, kind="cd-rom", book_barcodes=["C00108001"],
        disc_barcodes=[], tags=["附光盘", "光盘1片"]))

i = isbn10("750531002")
recuni("012004000107", LUNI, [
    df("010", [("a", hy10(i).lower()), ("d", "CNY35.00")]),
    df("100", [("a", uni_100(2004))]),
    df("200", [("a", "电子线路设计"), ("f", "吴军")], "1"),
    df("210", [("d", "2004")]),
    df("215", [("a", "250页"), ("e", "1张光盘")]),
    df("905", [("b", "C00107001")]),
], dict(title="电子线路设计", year=2004, isbn13=[to13(i)], discs=1, kind="cd-rom", book_barcodes=["C00107001"],
        disc_barcodes=[], tags=["lowercase-x-hyphen", "1张光盘"]))

a = isbn13("978730234567")
recuni("012014000113", LUNI, [
    df("010", [("a", f"ISBN {hy13(a)}"), ("d", "CNY42.00")]),
    df("100", [("a", uni_100(2014))]),
    df("200", [("a", "Java程序设计"), ("f", "孙明")], "1"),
    df("210", [("d", "2014")]),
    df("215", [("a", "330页"), ("e", "CD-ROM 1张")]),
    df("905", [("b", "C00113001")]),
], dict(title="Java程序设计", year=2014, isbn13=[a], discs=1, kind="cd-rom", book_barcodes=["C00113001"],
        disc_barcodes=[], tags=["isbn-prefix", "CD-ROM 1张"]))

a = isbn13("978756008888")
recuni("012014000120", LUNI, [
    df("010", [("a", a)]),
    df("100", [("a", uni_100(2014))]),
    df("200", [("a", "商务英语写作"), ("f", "郑敏")], "1"),
    df("210", [("d", "2014")]),
    df("215", [("a", "220页")]),
    df("300", [("a", "随书附赠光盘一张")]),
    df("905", [("b", "C00120001")]),
], dict(title="商务英语写作", year=2014, isbn13=[a], discs=1, kind="cd-rom", book_barcodes=["C00120001"],
        disc_barcodes=[], tags=["disc-in-note"]))

recuni("012018000105", LUNI, [
    df("010", [("d", "赠送")]),
    df("100", [("a", uni_100(2018))]),
    df("200", [("a", "内部培训教材"), ("e", "听力部分"), ("f", "培训中心编")], "1"),
    df("210", [("d", "2018")]),
    df("215", [("a", "90页"), ("e", "光盘1张(MP3)")]),
    df("905", [("b", "C00105001")]),
], dict(title="内部培训教材 听力部分", year=2018, isbn13=[], discs=1, kind="mp3", book_barcodes=["C00105001"],
        disc_barcodes=[], tags=["no-isbn", "mp3"]))

for rid, year, isbn in (("012010000116", 2010, None), ("012016000117", 2016, isbn13("978756003333"))):
    fields = [df("100", [("a", uni_100(year))]),
              df("200", [("a", "大学英语听说教程"), ("f", "外语系编")], "1"),
              df("210", [("d", str(year))]),
              df("215", [("a", "160页"), ("e", "1光盘")]),
              df("905", [("b", f"C{rid[-5:]}")])]
    if isbn:
        fields.insert(0, df("010", [("a", isbn)]))
    recuni(rid, LUNI, fields, dict(title="大学英语听说教程", year=year, isbn13=[isbn] if isbn else [], discs=1,
                                   kind="cd-rom", book_barcodes=[f"C{rid[-5:]}"], disc_barcodes=[],
                                   tags=["same-title-two-years"] + ([] if isbn else ["no-isbn"])))

a, b = isbn13("978704055555"), isbn13("978704055556")
recuni("012016000103", LUNI, [
    df("010", [("a", a), ("b", "精装"), ("d", "CNY88.00")]),
    df("010", [("a", b), ("b", "平装"), ("d", "CNY58.00")]),
    df("100", [("a", uni_100(2016))]),
    df("200", [("a", "线性代数"), ("f", "同济大学数学系编")], "1"),
    df("210", [("d", "2016")]),
    df("215", [("a", "200页"), ("e", "DVD光盘1张")]),
    df("905", [("b", "C00103001")]),
], dict(title="线性代数", year=2016, isbn13=[a, b], discs=1, kind="dvd", book_barcodes=["C00103001"],
        disc_barcodes=[], tags=["two-isbns-binding", "DVD光盘1张"]))

a = isbn13("978712136666")
recuni("012020000121", LUNI, [
    df("010", [("a", a)]),
    df("100", [("a", uni_100(2020))]),
    df("200", [("a", "三维动画制作"), ("f", "冯涛")], "1"),
    df("210", [("d", "2020")]),
    df("215", [("a", "300页"), ("e", "光碟1片")]),
    df("905", [("b", "C00121001")]),
], dict(title="三维动画制作", year=2020, isbn13=[a], discs=1, kind="cd-rom", book_barcodes=["C00121001"],
        disc_barcodes=[], tags=["光碟1片"]))

a = isbn13("978756007777")
recuni("012021000122", LUNI, [
    df("010", [("a", a)]),
    df("100", [("a", uni_100(2021))]),
    df("200", [("a", "新概念英语"), ("f", "亚历山大")], "1"),
    df("210", [("d", "2021")]),
    df("215", [("a", "180页"), ("e", "光盘4张(CD)")]),
    df("905", [("b", "C00122001")]),
    df("905", [("b", "G00122001"), ("c", "光盘库"), ("f", "光盘1-4")]),
], dict(title="新概念英语", year=2021, isbn13=[a], discs=4, kind="cd-rom", book_barcodes=["C00122001"],
        disc_barcodes=["G00122001"], tags=["4-discs-one-barcode"]))

a = isbn13("978957111234")
recuni("012012000114", LUNI, [
    df("010", [("a", a)]),
    df("100", [("a", uni_100(2012))]),
    df("200", [("a", "資料結構與演算法"), ("f", "林志明")], "1"),
    df("210", [("d", "2012")]),
    df("215", [("a", "400頁"), ("e", "1光碟")]),
    df("681", [("a", "312.73")]),
    df("905", [("b", "C00114001")]),
], dict(title="資料結構與演算法", year=2012, isbn13=[a], discs=1, kind="cd-rom", book_barcodes=["C00114001"],
        disc_barcodes=[], clc="312.73", tags=["taiwan-cmarc-681", "traditional"]))

a = isbn13("978712137777")
recuni("012009000106", LUNI, [
    df("010", [("a", a), ("z", "978712137778")]),
    df("100", [("a", uni_100(2009))]),
    df("200", [("a", "操作系统实验指导"), ("f", "黄海")], "1"),
    df("210", [("d", "2009")]),
    df("215", [("a", "190页"), ("e", "光盘1张")]),
    df("905", [("b", "C00106001")]),
], dict(title="操作系统实验指导", year=2009, isbn13=[a], discs=1, kind="cd-rom", book_barcodes=["C00106001"],
        disc_barcodes=[], tags=["010z-erroneous"]))

a = isbn13("978756009999")
recuni("012016000115", LUNI, [
    df("010", [("a", a)]),
    df("100", [("a", uni_100(2016))]),
    df("200", [("a", "Advanced English listening"), ("f", "Brown")], "1"),
    df("210", [("d", "2016")]),
    df("215", [("a", "210 p."), ("e", "1 CD-ROM")]),
    df("905", [("b", "C00115001")]),
], dict(title="Advanced English listening", year=2016, isbn13=[a], discs=1, kind="cd-rom", book_barcodes=["C00115001"],
        disc_barcodes=[], tags=["english-in-unimarc"]))

a = isbn13("978711541111")
recuni("012017000110", LUNI, [
    df("010", [("a", a)]),
    df("090", [("9", "110"), ("a", "110")]),
    df("100", [("a", uni_100(2017))]),
    df("200", [("a", "Python编程入门"), ("f", "何亮")], "1"),
    df("210", [("d", "2017")]),
    df("215", [("a", "260页"), ("e", "光盘1张")]),
    df("995", [("b", "MAIN"), ("f", "K00110001"), ("k", "TP311.56/12"), ("r", "BK")]),
    df("995", [("b", "MAIN"), ("f", "K00110002"), ("k", "TP311.56/12"), ("r", "CD"), ("u", "光盘")]),
], dict(title="Python编程入门", year=2017, isbn13=[a], discs=1, kind="cd-rom", book_barcodes=["K00110001"],
        disc_barcodes=["K00110002"], tags=["koha-995", "090"]))


def write_collection(path, records):
    out = ['<?xml version="1.0" encoding="UTF-8"?>', f'<collection xmlns="{NS}">']
    for rid, leader, fields, _ in records:
        out.append("  <record>")
        out.append(f"    <leader>{leader}</leader>")
        for f in fields:
            if f[0] == "c":
                out.append(f'    <controlfield tag="{f[1]}">{escape(f[2])}</controlfield>')
            else:
                _, tag, i1, i2, subs = f
                out.append(f'    <datafield tag="{tag}" ind1="{i1}" ind2="{i2}">')
                for code, value in subs:
                    out.append(f'      <subfield code="{code}">{escape(value)}</subfield>')
                out.append("    </datafield>")
        out.append("  </record>")
    out.append("</collection>")
    with open(path, "w", encoding="utf-8") as fh:
        fh.write("\n".join(out) + "\n")


def bench_records(n):
    out = []
    for k in range(n):
        rid = f"9{k:06d}"
        isbn = isbn13(f"9787900{k:05d}")
        out.append((rid, L21, [cf("001", rid), cf("008", m21_008(2000 + k % 25)),
                               df("020", [("a", isbn)]),
                               df("245", [("a", f"Benchmark book {k} /"), ("c", "Load Test.")], "1", "0"),
                               df("300", [("a", "100 p. ;"), ("e", "1 CD-ROM")]),
                               df("852", [("p", f"BENCH{k:06d}")])], {"isbn13": [isbn]}))
    return out


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    write_collection(os.path.join(out, "marc21.xml"), MARC21)
    write_collection(os.path.join(out, "unimarc.xml"), UNIMARC)
    if len(sys.argv) > 3 and sys.argv[2] == "--bench":
        bench = bench_records(int(sys.argv[3]))
        write_collection(os.path.join(out, "bench.xml"), bench)
        with open(os.path.join(out, "bench-isbns.txt"), "w") as fh:
            fh.write("\n".join(t["isbn13"][0] for _, _, _, t in bench) + "\n")
    manifest = []
    for flavour, records in (("marc21", MARC21), ("unimarc", UNIMARC)):
        for rid, leader, _, truth in records:
            entry = {"id": rid, "flavour": flavour, "deleted": truth.get("deleted", False)}
            entry.update({k: v for k, v in truth.items() if k != "deleted"})
            entry.setdefault("host", None)
            entry.setdefault("raw_isbns", [])
            manifest.append(entry)
    with open(os.path.join(out, "manifest.json"), "w", encoding="utf-8") as fh:
        json.dump(manifest, fh, ensure_ascii=False, indent=1)
        fh.write("\n")


if __name__ == "__main__":
    main()
