//! The records of a run on the hosts, beside the containers it changes: who may change them now
//! ([`lock`], Kamal's deploy lock), what a run set out to do and whether it finished
//! ([`journal`], gantry's own), and what it did ([`audit`], Kamal's audit log). The session
//! writes them around the executor ([`crate::session::run`]).
//!
//! Kamal reads the lock and the audit log as its own; the journal is what lets a rerun after a
//! killed run say what that run left behind.

pub mod audit;
pub mod journal;
pub mod lock;
