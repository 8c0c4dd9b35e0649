//! The state-test runner and the parallel comparison on state-test cases.

pub(crate) mod block;
pub(crate) mod compare;
pub(crate) mod model;
pub(crate) mod runner;
