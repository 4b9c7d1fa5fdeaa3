"""Run Vowpal Wabbit in file mode through the PyPI wheel and time it.

The vowpalwabbit 9.11.9 wheel ships no `vw` executable, only the pylibvw extension. Given `-d FILE`,
`vowpalwabbit.Workspace` calls `pylibvw.vw.run_parser`, i.e. VW's own C++ text parser and learning
driver read the file (this is also what `python -m vowpalwabbit` does). No example passes through
Python, so the timed section is VW's native parse + learn, plus VW's start-up and model finish.

    python vw_child.py RESULT.json VW-ARG...

writes {"seconds": ..., "vw_version": ...} to RESULT.json; VW's own progress goes to stderr.
"""

import json
import sys
import time


def main() -> None:
    result_path, args = sys.argv[1], sys.argv[2:]
    import vowpalwabbit  # imported before the clock starts: interpreter start-up is not VW's work

    t0 = time.perf_counter()
    ws = vowpalwabbit.Workspace(arg_list=args)  # runs the native parser + learner over -d FILE
    ws.finish()
    seconds = time.perf_counter() - t0
    with open(result_path, "w", encoding="utf-8") as f:
        json.dump({"seconds": seconds, "vw_version": vowpalwabbit.__version__}, f)


if __name__ == "__main__":
    main()
