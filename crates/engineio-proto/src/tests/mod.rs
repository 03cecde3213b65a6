//! Tests that drive the state machines in memory: the client/server pair harness, the official
//! Engine.IO v4 conformance cases restated against `ServerSession`, and property tests.

mod conformance;
mod pair;
mod props;
mod scenarios;
