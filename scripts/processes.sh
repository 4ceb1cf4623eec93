# Sourced by the scripts that start their own servers (fuzz.sh, invoke.sh): background processes
# that are stopped on every exit, a free loopback port, and a moto server of their own.

pids=()
stop_started() {
  local pid
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
}
trap stop_started EXIT
trap 'exit 130' INT TERM

# A port nothing listens on now.
free_port() {
  .venv/bin/python -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# start_moto LOG NAME: moto on a free port, stopped with the script (it exits when its stdin, our
# pipe, closes); sets moto_port, or prints LOG and exits when moto does not start within 60 s.
start_moto() {
  local log=$1 name=$2
  coproc MOTO { exec .venv/bin/python scripts/moto_server.py --port 0 --until-stdin-closes 2>"$log"; }
  pids+=("$MOTO_PID")
  moto_port=""
  read -r -t 60 moto_port <&"${MOTO[0]}" || true
  if ! [[ "$moto_port" =~ ^[0-9]+$ ]]; then
    cat "$log" >&2
    echo "$name: moto did not start" >&2
    exit 1
  fi
}
