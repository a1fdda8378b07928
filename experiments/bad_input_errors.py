"""Bad input fails fast: each case in a fresh Python process, timed, with XLA compilations counted.

    python experiments/bad_input_errors.py [--markdown PATH]

For every case prints the error it raised, the seconds from the call to the error, the seconds
of the whole process (Python start and imports included) and how many XLA programs were
compiled by the call before the error, by name (``jax_log_compiles``): the training program never is;
gymnax's environment constructors run a few scalar ops eagerly.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time

CASES = {
    "misspelt env id": "ppo.Config(env='CartPole-v2')",
    "num_minibatches not dividing the batch": "ppo.Config(num_envs=4, num_steps=10, num_minibatches=3)",
    "negative learning rate": "ppo.Config(lr=-1.0)",
    "DQN on Pendulum": "dqn.Config(env='Pendulum-v1')",
    "seeds=0": "purejaxrl.run(ppo, ppo.Config(env='CartPole-v1'), seeds=0)",
    "unknown sweep field": "purejaxrl.run(ppo, ppo.Config(), seeds=2, sweep={'lrr': [1e-3]})",
    "learning rate as a string": "sac.Config(lr='3e-4')",
    "unknown env keyword": "sac.Config(env_kwargs={'nope': 1})",
    "budget beyond int32 steps": "ppo.Config(total_timesteps=2**31)",
    "batch larger than the buffer": "sac.Config(buffer_size=100, batch_size=256)",
    "control: a valid jitted call (the counter sees compiles)": "jax.jit(lambda x: x + 1)(1.0)",
}

PROGRAM = """
import json, logging, re, time
import jax
compiled = []  # names of the XLA programs compiled, from jax_log_compiles
class Names(logging.Handler):
    def emit(self, record):
        found = re.match(r"Finished XLA compilation of (\\S+)", record.getMessage())
        if found:
            compiled.append(found.group(1))
logging.getLogger("jax").addHandler(Names())
jax.config.update("jax_log_compiles", True)
import purejaxrl
from purejaxrl.algorithms import dqn, ppo, sac
before = len(compiled)
start = time.perf_counter()
try:
    {call}
    error = None
except Exception as e:
    error = f"{{type(e).__name__}}: {{e}}"
print(json.dumps({{"error": error, "seconds": time.perf_counter() - start, "at_import": before,
                  "in_call": compiled[before:]}}))
"""


def run_case(call: str) -> dict:
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", PROGRAM.format(call=call)], capture_output=True, text=True,
                          timeout=120)
    if done.returncode:
        raise RuntimeError(f"{call}: the process failed\n{done.stderr[-2000:]}")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    return result | {"process_seconds": time.perf_counter() - start}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--markdown", default=None, help="also append the table to this file")
    args = parser.parse_args()
    lines = ["| input | call | error | s to the error | s whole process | programs compiled in the call |",
             "|---|---|---|---|---|---|"]
    print("\n".join(lines))
    for name, call in CASES.items():
        result = run_case(call)
        error = (result["error"] or "NO ERROR").replace("|", "\\|")
        lines.append(f"| {name} | `{call}` | {error} | {result['seconds']:.3f} | "
                     f"{result['process_seconds']:.2f} | {', '.join(result['in_call']) or 'none'} |")
        print(lines[-1], flush=True)
    if args.markdown:
        with open(args.markdown, "a") as f:
            f.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
