//! Admin CLI round trips against moto.
