//! The harness itself: servers come up, answer, and go away.

use std::collections::HashSet;
use std::fs;
use std::net::TcpStream;

use e2e::{Pebble, PebbleOptions, TestDir, free_port};

#[test]
fn free_port_never_hands_out_the_same_port_twice() {
    let ports: Vec<u16> = (0..200).map(|_| free_port()).collect();
    let unique: HashSet<u16> = ports.iter().copied().collect();
    assert_eq!(unique.len(), ports.len());
}

#[test]
fn pebble_serves_its_directory_and_issuing_root_and_stops_when_dropped() {
    let dir = TestDir::new();
    let pebble = Pebble::start(&dir, PebbleOptions::default());
    let root = fs::read_to_string(pebble.root_file()).expect("read the issuing root");
    assert!(root.starts_with("-----BEGIN CERTIFICATE-----"), "{root}");
    assert!(pebble.directory_url().starts_with("https://127.0.0.1:"));
    let authority = pebble
        .directory_url()
        .trim_start_matches("https://")
        .trim_end_matches("/dir")
        .to_string();

    drop(pebble);

    assert!(
        TcpStream::connect(&authority).is_err(),
        "pebble still listens on {authority} after drop"
    );
}
