//! `bench-load`: see `gpt_api_bench::load`.

fn main() {
    gpt_api_bench::load::main();
}
