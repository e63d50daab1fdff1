#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| myriad::fuzzing::hpack_decode(data));
