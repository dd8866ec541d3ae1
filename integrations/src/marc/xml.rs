//! MARCXML (MARC21 slim): reading a `<record>`, a `<collection>`, or the records inside any
//! wrapper (an SRU or OAI-PMH response), with or without the slim namespace; writing a
//! collection.

use roxmltree::{Document, Node, ParsingOptions};

use super::{Field, MAX_RECORDS, MarcError, Record, Subfield};

pub const SLIM: &str = "http://www.loc.gov/MARC21/slim";

fn is_marc(node: &Node<'_, '_>, local: &str) -> bool {
    node.is_element()
        && node.tag_name().name() == local
        && matches!(node.tag_name().namespace(), None | Some(SLIM))
}

fn char_attr(node: &Node<'_, '_>, name: &str) -> char {
    node.attribute(name)
        .and_then(|v| v.chars().next())
        .unwrap_or(' ')
}

fn record(node: Node<'_, '_>) -> Record {
    let mut rec = Record::default();
    for child in node.children().filter(Node::is_element) {
        if is_marc(&child, "leader") {
            rec.leader = child.text().unwrap_or_default().to_string();
        } else if is_marc(&child, "controlfield") {
            rec.fields.push(Field::Control {
                tag: child.attribute("tag").unwrap_or_default().to_string(),
                value: child.text().unwrap_or_default().to_string(),
            });
        } else if is_marc(&child, "datafield") {
            let subfields = child
                .children()
                .filter(|s| is_marc(s, "subfield"))
                .map(|s| Subfield {
                    code: char_attr(&s, "code"),
                    value: s.text().unwrap_or_default().to_string(),
                })
                .collect();
            rec.fields.push(Field::Data {
                tag: child.attribute("tag").unwrap_or_default().to_string(),
                ind1: char_attr(&child, "ind1"),
                ind2: char_attr(&child, "ind2"),
                subfields,
            });
        }
    }
    rec
}

/// Every MARC record in `text`, wherever it sits in the document.
pub fn parse_marcxml(text: &str) -> Result<Vec<Record>, MarcError> {
    let options = ParsingOptions {
        allow_dtd: false,
        nodes_limit: 5_000_000,
    };
    let doc =
        Document::parse_with_options(text, options).map_err(|e| MarcError::Xml(e.to_string()))?;
    records_in(doc.root())
}

/// The MARC records below `node` (used for SRU `recordData` and OAI-PMH `metadata`).
pub fn records_in(node: Node<'_, '_>) -> Result<Vec<Record>, MarcError> {
    let mut out = Vec::new();
    for n in node.descendants().filter(|n| is_marc(n, "record")) {
        // A <record> of MARC has a leader or fields; SRU's own <record> is in another namespace.
        if n.children()
            .any(|c| is_marc(&c, "leader") || is_marc(&c, "datafield"))
        {
            if out.len() >= MAX_RECORDS {
                return Err(MarcError::TooMany(MAX_RECORDS));
            }
            out.push(record(n));
        }
    }
    Ok(out)
}

fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            c if (c as u32) < 0x20 && c != '\t' && c != '\n' && c != '\r' => {}
            c => out.push(c),
        }
    }
    out
}

/// A `<collection>` in the slim namespace, UTF-8, literal characters (not references).
pub fn write_marcxml(records: &[Record]) -> String {
    let mut out =
        format!("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<collection xmlns=\"{SLIM}\">\n");
    for r in records {
        out.push_str("  <record>\n");
        out.push_str(&format!("    <leader>{}</leader>\n", escape(&r.leader)));
        for f in &r.fields {
            match f {
                Field::Control { tag, value } => out.push_str(&format!(
                    "    <controlfield tag=\"{}\">{}</controlfield>\n",
                    escape(tag),
                    escape(value)
                )),
                Field::Data {
                    tag,
                    ind1,
                    ind2,
                    subfields,
                } => {
                    out.push_str(&format!(
                        "    <datafield tag=\"{}\" ind1=\"{}\" ind2=\"{}\">\n",
                        escape(tag),
                        escape(&ind1.to_string()),
                        escape(&ind2.to_string())
                    ));
                    for s in subfields {
                        out.push_str(&format!(
                            "      <subfield code=\"{}\">{}</subfield>\n",
                            escape(&s.code.to_string()),
                            escape(&s.value)
                        ));
                    }
                    out.push_str("    </datafield>\n");
                }
            }
        }
        out.push_str("  </record>\n");
    }
    out.push_str("</collection>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_records_inside_an_sru_response_and_round_trips() {
        let sru = r#"<zs:searchRetrieveResponse xmlns:zs="http://www.loc.gov/zing/srw/"><zs:records><zs:record><zs:recordData><record xmlns="http://www.loc.gov/MARC21/slim"><leader>00000nam a2200000 a 4500</leader><controlfield tag="001">1</controlfield><datafield tag="245" ind1="1" ind2="0"><subfield code="a">A &amp; B</subfield></datafield></record></zs:recordData></zs:record></zs:records></zs:searchRetrieveResponse>"#;
        let recs = parse_marcxml(sru).expect("parse");
        assert_eq!(recs.len(), 1);
        assert_eq!(recs[0].first("245", 'a'), Some("A & B"));
        assert_eq!(recs[0].control("001"), Some("1"));
        let again = parse_marcxml(&write_marcxml(&recs)).expect("reparse");
        assert_eq!(again, recs);
    }

    #[test]
    fn malformed_xml_is_an_error() {
        assert!(matches!(
            parse_marcxml("<collection><record>"),
            Err(MarcError::Xml(_))
        ));
        assert!(parse_marcxml("<!DOCTYPE x [<!ENTITY a 'b'>]><x/>").is_err());
    }
}
