#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| myriad_server::fuzzing::request_split(data));
