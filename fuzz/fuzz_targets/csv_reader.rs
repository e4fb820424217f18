#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| polsim::fuzzing::csv_reader(data));
