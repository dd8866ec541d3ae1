//! Spindle's integrations with library systems: identifiers (ISBN) now; MARC records,
//! SRU / Z39.50 / OAI-PMH clients and OPAC links. No HTTP server, no SQL.

pub mod bib;
pub mod discs;
pub mod egress;
mod http;
pub mod isbn;
pub mod lookup;
pub mod marc;
pub mod oai;
mod retry;
pub mod sru;
pub mod z3950;
