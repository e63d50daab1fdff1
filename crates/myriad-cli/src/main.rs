//! The `myriad` command. Everything lives in the modules; this only maps the
//! outcome to an exit code.

mod args;
mod compare;
mod dashboard;
mod demo;
mod find_max;
mod load;
mod progress;
mod report;
mod run;
mod serve;
mod signal;

fn main() {
    std::process::exit(args::main());
}
