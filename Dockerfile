# A small image of gantry for CI jobs: the statically linked binary on Debian's slim image,
# which adds what hooks and deploy.yml's ERB may call (a shell, git, CA certificates).
#   docker build -t gantry .
#   docker run --rm -v "$PWD:/work" -v "$HOME/.ssh:/root/.ssh:ro" gantry plan
FROM rust:1-bookworm AS build
WORKDIR /src
COPY . .
RUN RUSTFLAGS="-C target-feature=+crt-static" \
    cargo build --release --locked --bin gantry --target x86_64-unknown-linux-gnu \
 && cp target/x86_64-unknown-linux-gnu/release/gantry /gantry

FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates git openssh-client \
 && rm -rf /var/lib/apt/lists/*
COPY --from=build /gantry /usr/local/bin/gantry
WORKDIR /work
ENTRYPOINT ["gantry"]
