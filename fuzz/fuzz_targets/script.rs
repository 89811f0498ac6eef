#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    deltascope_fuzz::harness::script_bytes(data);
});
