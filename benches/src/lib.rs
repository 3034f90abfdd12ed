//! What the comparison binary (`src/main.rs`) and the criterion benches
//! (`benches/driver.rs`) share: the fake wire-protocol peer.

pub mod fakepeer;
