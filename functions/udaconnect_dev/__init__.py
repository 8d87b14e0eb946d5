"""UdaConnect's developer tooling, never in the image: the local Knative Kafka broker (broker), the local stack
(localstack), the simulated phones (simulator), the benchmarks (bench) and the CLI commands that drive them
(commands: `udaconnect dev`, `send`, `status`). It may import the runtime package `udaconnect`; the runtime
never imports it."""
