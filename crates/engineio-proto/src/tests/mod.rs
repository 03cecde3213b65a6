//! Tests that drive a client against a server in memory.
