//! `bench-mock`: see `gpt_api_bench::mock`.

fn main() {
    gpt_api_bench::mock::main();
}
