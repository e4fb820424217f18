#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| polsim::fuzzing::lowered_expr(data));
