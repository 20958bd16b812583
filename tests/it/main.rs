//! The one integration-test binary. Each module reads like a specification
//! of one part of leakdrill; shared helpers live in `support`.

mod api;
mod backends;
mod cli;
mod detect;
mod external;
mod fixtures;
mod generation;
mod lint;
mod permissions;
mod report;
mod safety;
mod score;
mod serve;
mod sim;
mod suite;
mod support;
mod trace;
