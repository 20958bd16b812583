//! leakdrill: a breach testbed and chaos harness for Salesforce-centred
//! integration estates. See ARCHITECTURE.md for the map; this crate is the
//! library behind the `leakdrill` binary, which is a thin shim over [`cli`].

#![recursion_limit = "256"]

pub mod cli;
pub mod clocks;
pub mod detect;
pub mod diag;
pub mod external;
pub mod fixture;
pub mod generate;
pub mod lint;
pub mod model;
pub mod pii;
pub mod report;
pub mod scenario;
pub mod score;
pub mod seed;
pub mod serve;
pub mod sfdc;
pub mod sfid;
pub mod show;
pub mod sim;
pub mod sinks;
pub mod suite;
pub mod trace;
pub mod watermark;
pub mod yaml;
