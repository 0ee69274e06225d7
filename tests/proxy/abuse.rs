//! Abuse tests: one attack at a time against berth run as a process, over raw sockets,
//! while a well-behaved client on the side keeps sending requests. Each asserts the status
//! or close the attacker gets, the metric that counts it, berth's RSS bounded over the
//! attack, and that every side request succeeded; the side client's p99 is printed
//! (`--nocapture`), never asserted.

mod h1;
mod h2;
pub mod harness;
