//! EventBridge events, pure: the event patterns (`pattern`) that decide whether
//! a rule sees an event. Building the PutEvents entry lives here too.

pub mod entry;
pub mod pattern;
