//! Socket.IO client (wip).

pub mod sans_io;
