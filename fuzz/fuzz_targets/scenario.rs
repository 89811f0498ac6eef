#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = deltascope_fuzz::harness::scenario_bytes(data);
});
