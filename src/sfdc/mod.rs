//! The mock Salesforce org as a pure state machine: `OrgState::handle(now,
//! request) -> (response, telemetry)`. No HTTP types, no clock, no I/O; the
//! server (`serve`) and the simulator feed it requests.
//!
//! Owns: org runtime state (records, credentials, sessions, limits) and the
//! Salesforce wire behaviour. Must not: read the clock, do I/O, or spawn.

pub mod soql;
