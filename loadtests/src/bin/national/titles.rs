//! Titles of the books that came with discs, as a consortium's catalogue has them: a long tail
//! of distinct titles over a few very common words.
//!
//! A title is put together from parts the way such books are named (a series word, a subject, an
//! aspect, a form, a volume, an edition; in English a subtitle too). Each part is drawn with a
//! Zipf law over its list, which is ordered most common first: "大学英语" and "教程" are in a
//! great many titles, most subjects and subtitles in few. The subjects are the curated ones
//! below, a field crossed with a discipline ("化工" + "安全技术"), or a program and its version
//! ("AutoCAD 2010"), so distinct titles number in the millions and most books have their own,
//! while the commonest few ("大学英语综合教程") recur as they do in a real catalogue.
//! `a_catalogue_has_a_long_tail_of_titles` checks the shape.

use super::h;

/// An index into a list of `len`, drawn for `n` with the Zipf law of exponent `s` (0 < s < 1
/// here): the first entries are the commonest, the weight of entry r is 1/(r+1)^s. (Also who
/// holds a book's further copies: `disc_book`.)
pub(super) fn zipf(n: i64, salt: u64, len: usize, s: f64) -> usize {
    let u = (h(n, salt) >> 11) as f64 / (1u64 << 53) as f64;
    let a = 1.0 - s;
    let top = (len as f64 + 1.0).powf(a);
    let x = (u * (top - 1.0) + 1.0).powf(1.0 / a) - 1.0;
    (x as usize).min(len - 1)
}

fn part<'a>(list: &[&'a str], n: i64, salt: u64) -> &'a str {
    list[zipf(n, salt, list.len(), 0.8)]
}

/// True for `percent` in a hundred books.
fn chance(n: i64, salt: u64, percent: u64) -> bool {
    h(n, salt) % 100 < percent
}

/// The title of book `n` (Chinese when `zh`).
pub fn title(n: i64, zh: bool) -> String {
    if zh { zh_title(n) } else { en_title(n) }
}

fn zh_title(n: i64) -> String {
    let mut t = String::new();
    if chance(n, 40, 35) {
        t.push_str(part(ZH_SERIES, n, 41));
    }
    t.push_str(&zh_subject(n));
    if chance(n, 42, 30) {
        t.push_str(part(ZH_ASPECTS, n, 43));
    }
    t.push_str(part(ZH_FORMS, n, 44));
    if chance(n, 45, 20) {
        let volume = 1 + zipf(n, 46, 6, 0.5);
        if chance(n, 47, 30) && volume <= 2 {
            t.push_str(["（上册）", "（下册）"][volume - 1]);
        } else {
            t.push_str(&format!(" 第{volume}册"));
        }
    }
    if chance(n, 48, 25) {
        t.push_str(&format!("（第{}版）", 2 + zipf(n, 49, 5, 0.5)));
    }
    t
}

fn zh_subject(n: i64) -> String {
    match h(n, 50) % 100 {
        0..55 => part(ZH_SUBJECTS, n, 51).to_string(),
        55..85 => format!("{}{}", part(ZH_FIELDS, n, 52), part(ZH_DISCIPLINES, n, 53)),
        _ => {
            let (name, versions) = SOFTWARE[zipf(n, 54, SOFTWARE.len(), 0.6)];
            let version = versions[zipf(n, 55, versions.len(), 0.3)];
            let chinese = if chance(n, 56, 50) { "中文版" } else { "" };
            format!("{name} {version}{chinese}")
        }
    }
}

fn en_title(n: i64) -> String {
    let mut t = String::new();
    if chance(n, 60, 70) {
        t.push_str(part(EN_FORMS, n, 61));
        t.push(' ');
    }
    match h(n, 62) % 100 {
        0..55 => t.push_str(part(EN_SUBJECTS, n, 63)),
        55..85 => {
            t.push_str(part(EN_FIELDS, n, 64));
            t.push(' ');
            t.push_str(part(EN_DISCIPLINES, n, 65));
        }
        _ => {
            let (name, versions) = SOFTWARE[zipf(n, 66, SOFTWARE.len(), 0.6)];
            let version = versions[zipf(n, 67, versions.len(), 0.3)];
            t.push_str(&format!("{name} {version}"));
        }
    }
    if chance(n, 68, 45) {
        t.push_str(": ");
        t.push_str(part(EN_SUBTITLES, n, 69));
    }
    if chance(n, 70, 10) {
        t.push_str(&format!(", Volume {}", 1 + zipf(n, 71, 4, 0.5)));
    }
    if chance(n, 72, 35) {
        let nth = ["2nd", "3rd", "4th", "5th", "6th", "7th", "8th"][zipf(n, 73, 7, 0.5)];
        t.push_str(&format!(", {nth} edition"));
    }
    t
}

const ZH_SERIES: &[&str] = &[
    "新编",
    "实用",
    "全新版",
    "新世纪",
    "21世纪",
    "现代",
    "简明",
    "高职高专",
    "全国计算机等级考试二级",
    "新概念",
    "最新",
    "零基础学",
    "图解",
    "新视野",
    "新标准",
    "高等学校",
    "全国大学英语四级考试",
    "全国大学英语六级考试",
    "轻松学",
    "中等职业教育",
    "卓越工程师",
    "研究生",
    "医学",
    "护士执业资格考试",
    "全国计算机等级考试三级",
    "成人高等教育",
    "普通高校",
    "国家精品课程",
    "双语",
    "跟我学",
    "一学就会",
    "从零开始学",
    "应用型本科",
    "剑桥",
    "牛津",
    "朗文",
];

const ZH_SUBJECTS: &[&str] = &[
    "大学英语",
    "高等数学",
    "计算机应用基础",
    "C语言程序设计",
    "英语听力",
    "线性代数",
    "大学物理",
    "概率论与数理统计",
    "数据结构",
    "英语口语",
    "商务英语",
    "计算机网络",
    "大学计算机基础",
    "数据库原理",
    "操作系统",
    "软件工程",
    "电路分析",
    "模拟电子技术",
    "数字电子技术",
    "单片机原理及应用",
    "信号与系统",
    "自动控制原理",
    "机械制图",
    "工程力学",
    "材料力学",
    "理论力学",
    "有机化学",
    "无机化学",
    "分析化学",
    "物理化学",
    "生物化学",
    "细胞生物学",
    "遗传学",
    "微生物学",
    "人体解剖学",
    "组织学与胚胎学",
    "生理学",
    "病理学",
    "药理学",
    "诊断学",
    "内科学",
    "外科学",
    "妇产科学",
    "儿科学",
    "护理学基础",
    "中医基础理论",
    "中药学",
    "针灸学",
    "会计学",
    "基础会计",
    "财务管理",
    "市场营销",
    "管理学",
    "微观经济学",
    "宏观经济学",
    "计量经济学",
    "统计学",
    "金融学",
    "国际贸易实务",
    "国际金融",
    "电子商务",
    "物流管理",
    "人力资源管理",
    "法学概论",
    "民法学",
    "刑法学",
    "经济法",
    "中国近现代史纲要",
    "马克思主义基本原理概论",
    "思想道德修养与法律基础",
    "大学语文",
    "现代汉语",
    "古代汉语",
    "中国古代文学",
    "中国现当代文学",
    "外国文学",
    "新闻学概论",
    "传播学",
    "教育学",
    "心理学",
    "教育心理学",
    "社会学概论",
    "艺术设计基础",
    "素描",
    "色彩",
    "音乐欣赏",
    "钢琴基础",
    "声乐",
    "舞蹈",
    "体育与健康",
    "篮球",
    "太极拳",
    "日语",
    "韩国语",
    "德语",
    "法语",
    "俄语",
    "西班牙语",
    "汉语",
    "对外汉语",
    "英语语法",
    "英语写作",
    "英汉翻译",
    "英语国家概况",
    "旅游英语",
    "医学英语",
    "科技英语",
    "英语词汇",
    "英语阅读",
    "Java程序设计",
    "Python程序设计",
    "面向对象程序设计",
    "网页设计与制作",
    "多媒体技术",
    "计算机组成原理",
    "编译原理",
    "离散数学",
    "人工智能",
    "数字图像处理",
    "嵌入式系统",
    "传感器与检测技术",
    "电机与拖动",
    "电力电子技术",
    "PLC原理及应用",
    "数控技术",
    "机械设计基础",
    "互换性与测量技术",
    "液压与气压传动",
    "工程测量",
    "建筑识图",
    "土木工程材料",
    "结构力学",
    "建筑施工技术",
    "工程造价",
    "地理信息系统",
    "遥感原理",
    "环境科学概论",
    "食品化学",
    "植物学",
    "动物学",
    "生态学",
    "农业概论",
];

/// Fields crossed with disciplines make the subjects of vocational and professional books.
const ZH_FIELDS: &[&str] = &[
    "机械",
    "电气",
    "计算机",
    "电子",
    "建筑",
    "土木",
    "化工",
    "通信",
    "护理",
    "药学",
    "汽车",
    "物流",
    "旅游",
    "酒店",
    "食品",
    "环境",
    "材料",
    "生物",
    "农业",
    "园林",
    "服装",
    "纺织",
    "印刷",
    "包装",
    "水利",
    "交通",
    "铁道",
    "航空",
    "船舶",
    "冶金",
    "矿业",
    "石油",
    "能源",
    "医学",
    "临床",
    "口腔",
    "康复",
    "兽医",
    "林业",
    "测绘",
    "广告",
    "会展",
    "文秘",
    "行政",
    "商务",
    "金融",
    "保险",
    "审计",
    "税务",
    "物业",
];

const ZH_DISCIPLINES: &[&str] = &[
    "基础",
    "概论",
    "技术",
    "工程",
    "管理",
    "英语",
    "设计",
    "制图",
    "安全技术",
    "专业英语",
    "法规",
    "实务",
    "材料学",
    "检测技术",
    "项目管理",
    "质量管理",
    "信息技术",
    "应用文写作",
    "职业道德",
    "营销",
    "自动化",
    "工艺学",
    "经济学",
    "统计",
    "心理学",
];

const ZH_ASPECTS: &[&str] = &[
    "听说",
    "综合",
    "阅读",
    "写作",
    "实验",
    "上机",
    "案例",
    "应用",
    "翻译",
    "词汇",
    "语法",
    "实训",
    "考试",
    "视听说",
    "项目",
    "习题",
    "技能",
    "专题",
    "双语",
    "仿真",
];

const ZH_FORMS: &[&str] = &[
    "教程",
    "基础教程",
    "实用教程",
    "学习指导",
    "习题集",
    "实验指导",
    "综合教程",
    "指南",
    "入门",
    "精讲",
    "导论",
    "多媒体课件",
    "同步辅导",
    "从入门到精通",
    "实例教程",
    "案例教程",
    "项目教程",
    "训练",
    "手册",
    "辅导与习题解答",
    "考试大纲",
    "真题详解",
    "模拟试题",
    "典型题解析",
    "学习与考试指导",
    "自学读本",
    "操作与实训",
    "技能训练",
    "课程设计",
    "100例",
];

/// Programs and their versions: computing books are named after them.
const SOFTWARE: &[(&str, &[&str])] = &[
    (
        "AutoCAD",
        &[
            "2008", "2010", "2007", "2012", "2014", "2004", "2006", "2009", "2011", "2013", "2015",
            "2016", "2018", "2020",
        ],
    ),
    (
        "Photoshop",
        &["CS3", "CS5", "CS4", "CS2", "CS6", "CS", "7.0", "CC"],
    ),
    (
        "Office",
        &["2003", "2007", "2010", "2013", "2016", "2000", "XP", "2019"],
    ),
    ("Excel", &["2003", "2007", "2010", "2013", "2016", "2000"]),
    ("Word", &["2003", "2007", "2010", "2013", "2016"]),
    ("PowerPoint", &["2003", "2007", "2010", "2013"]),
    ("Visual Basic", &["6.0", ".NET", "2008", "2010", "2005"]),
    ("Visual C++", &["6.0", ".NET", "2008", "2010", "2005"]),
    ("Flash", &["MX", "8", "CS3", "CS4", "CS5", "CS6", "MX 2004"]),
    (
        "Dreamweaver",
        &["8", "MX", "CS3", "CS4", "CS5", "CS6", "MX 2004"],
    ),
    ("3ds Max", &["9", "2009", "2010", "2012", "8", "7", "2014"]),
    (
        "MATLAB",
        &["7.0", "R2010a", "R2012b", "6.5", "R2014a", "R2016a"],
    ),
    ("SPSS", &["17.0", "13.0", "19.0", "22.0", "16.0", "20.0"]),
    ("SQL Server", &["2000", "2005", "2008", "2012"]),
    ("Access", &["2003", "2007", "2010", "2000"]),
    ("CorelDRAW", &["12", "X3", "X4", "X5", "X6", "X7"]),
    (
        "Pro/ENGINEER",
        &["Wildfire 4.0", "Wildfire 5.0", "Wildfire 3.0", "2001"],
    ),
    ("UG NX", &["6.0", "7.5", "8.0", "5.0", "4.0", "10.0"]),
    (
        "SolidWorks",
        &["2008", "2010", "2012", "2006", "2014", "2016"],
    ),
    (
        "Premiere",
        &["Pro CS3", "Pro CS4", "Pro CS6", "Pro 2.0", "Pro CC"],
    ),
    ("Illustrator", &["CS3", "CS4", "CS5", "CS6", "CS2"]),
    ("Protel", &["99 SE", "DXP", "2004"]),
    ("Multisim", &["10", "2001", "11", "12", "14"]),
    (
        "Linux",
        &[
            "Red Hat 9",
            "RHEL 5",
            "Fedora",
            "Ubuntu",
            "RHEL 6",
            "CentOS 7",
        ],
    ),
    (
        "Windows",
        &["XP", "2000", "7", "Server 2003", "Vista", "Server 2008"],
    ),
    ("ASP.NET", &["2.0", "3.5", "4.0"]),
    ("Delphi", &["7", "2005", "6"]),
    ("FoxPro", &["6.0", "Visual 6.0"]),
    ("LabVIEW", &["8.2", "8.5", "2009", "2011"]),
    ("Mastercam", &["X", "9.1", "X2", "X5"]),
];

const EN_FORMS: &[&str] = &[
    "An Introduction to",
    "Essentials of",
    "Principles of",
    "Fundamentals of",
    "Advanced",
    "A Practical Guide to",
    "Workbook for",
    "Handbook of",
    "Lab Manual for",
    "Readings in",
    "Case Studies in",
    "Topics in",
    "Foundations of",
    "Elements of",
    "Exploring",
    "Understanding",
    "Mastering",
    "A First Course in",
    "Applied",
    "Contemporary",
    "Modern",
    "Study Guide for",
    "Problems in",
    "Perspectives on",
];

const EN_SUBJECTS: &[&str] = &[
    "College English",
    "Calculus",
    "Business English",
    "Linear Algebra",
    "University Physics",
    "English Listening",
    "Spoken English",
    "Organic Chemistry",
    "Programming in C",
    "Java Programming",
    "Microeconomics",
    "Macroeconomics",
    "Financial Accounting",
    "Marketing Management",
    "Computer Networks",
    "Operating Systems",
    "Database Systems",
    "Data Structures and Algorithms",
    "Python for Data Science",
    "Cell Biology",
    "Human Anatomy",
    "Business Statistics",
    "Nursing Practice",
    "Pharmacology",
    "Mechanical Design",
    "Circuit Analysis",
    "Signals and Systems",
    "Control Engineering",
    "World History",
    "Psychology",
    "Sociology",
    "Academic Writing",
    "English Grammar",
    "English Vocabulary",
    "Public Speaking",
    "Intercultural Communication",
    "Corporate Finance",
    "Managerial Accounting",
    "Operations Management",
    "Organizational Behavior",
    "International Business",
    "Human Resource Management",
    "Strategic Management",
    "Econometrics",
    "Probability and Statistics",
    "Differential Equations",
    "Discrete Mathematics",
    "Numerical Methods",
    "Physical Chemistry",
    "Analytical Chemistry",
    "Biochemistry",
    "Molecular Biology",
    "Genetics",
    "Microbiology",
    "Ecology",
    "Physiology",
    "Pathology",
    "Immunology",
    "Epidemiology",
    "Clinical Medicine",
    "Pediatric Nursing",
    "Medical Terminology",
    "Thermodynamics",
    "Fluid Mechanics",
    "Heat Transfer",
    "Materials Science",
    "Engineering Mechanics",
    "Digital Logic Design",
    "Microprocessors",
    "Embedded Systems",
    "Digital Signal Processing",
    "Computer Graphics",
    "Artificial Intelligence",
    "Machine Learning",
    "Software Engineering",
    "Web Development",
    "Computer Architecture",
    "Information Security",
    "Linguistics",
    "Phonetics",
    "Translation",
    "American Literature",
    "British Literature",
    "Film Studies",
    "Music Theory",
    "Art History",
    "Philosophy",
    "Ethics",
    "Political Science",
    "Educational Psychology",
    "Research Methods",
    "Environmental Science",
    "Geology",
    "Astronomy",
];

const EN_FIELDS: &[&str] = &[
    "Mechanical",
    "Electrical",
    "Civil",
    "Chemical",
    "Software",
    "Biomedical",
    "Environmental",
    "Industrial",
    "Aerospace",
    "Nuclear",
    "Petroleum",
    "Agricultural",
    "Clinical",
    "Medical",
    "Veterinary",
    "Financial",
    "Hospitality",
    "Tourism",
    "Legal",
    "Technical",
    "Marine",
    "Structural",
    "Geotechnical",
    "Transportation",
    "Textile",
    "Food",
    "Forensic",
    "Sports",
    "Public Health",
    "Urban",
];

const EN_DISCIPLINES: &[&str] = &[
    "Engineering",
    "English",
    "Design",
    "Management",
    "Systems",
    "Analysis",
    "Technology",
    "Science",
    "Research",
    "Drawing",
    "Communication",
    "Economics",
    "Law",
    "Practice",
    "Ethics",
    "Safety",
    "Materials",
    "Measurement",
    "Planning",
    "Statistics",
];

const EN_SUBTITLES: &[&str] = &[
    "A Practical Approach",
    "Theory and Practice",
    "Concepts and Applications",
    "An Introduction",
    "Principles and Applications",
    "A Problem-Solving Approach",
    "A Student's Guide",
    "Concepts and Cases",
    "With Applications",
    "An Integrated Approach",
    "A Global Perspective",
    "Methods and Applications",
    "A Systems Approach",
    "Text and Cases",
    "Analysis and Design",
    "A Modern Approach",
    "Making Connections",
    "Skills for Success",
    "Listening and Speaking",
    "Reading and Writing",
    "From Theory to Practice",
    "An Interdisciplinary Approach",
    "A Conceptual Approach",
    "Selected Readings",
    "Tools and Techniques",
    "For Engineers and Scientists",
    "A Hands-On Introduction",
    "Core Concepts",
    "A Case-Based Approach",
    "The Essentials",
];

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    /// Over a hundred thousand books (a 1/20 national catalogue), most titles are a book's own
    /// and none is in more than a fraction of a percent of books; the commonest words are in
    /// many titles, as in a real catalogue.
    #[test]
    fn a_catalogue_has_a_long_tail_of_titles() {
        let books = 100_000;
        let mut counts: HashMap<String, u32> = HashMap::new();
        for n in 0..books {
            *counts.entry(title(n, n % 10 < 6)).or_default() += 1;
        }
        let once = counts.values().filter(|&&c| c == 1).count();
        let top = counts.values().copied().max().unwrap_or(0);
        println!(
            "{books} books: {} distinct titles, {once} of one book, the commonest in {top}",
            counts.len()
        );
        assert!(
            counts.len() > books as usize * 6 / 10,
            "{} distinct titles in {books}",
            counts.len()
        );
        assert!(once > books as usize / 2, "{once} titles held by one book");
        assert!(top < 300, "the commonest title is in {top} books");
        let english = counts.keys().filter(|t| t.contains("英语")).count();
        assert!(english > counts.len() / 50, "{english} titles with 英语");
    }

    #[test]
    fn zipf_draws_stay_in_the_list_and_favour_its_head() {
        let mut seen = [0u32; 10];
        for n in 0..10_000 {
            seen[zipf(n, 1, 10, 0.8)] += 1;
        }
        assert!(seen.iter().all(|&c| c > 0));
        assert!(seen[0] > 2 * seen[9], "{seen:?}");
    }
}
