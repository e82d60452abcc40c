# Shared by scripts/check and scripts/test (sourced, not run): headings, timed steps that
# all run even after one fails, and the pytest call both use.

heading() { printf '\n==== %s\n' "$*"; }

failed=()

# step NAME COMMAND...: run it, say how long it took, remember a failure and carry on.
step() {
    local name="$1"
    shift
    heading "$name"
    local start=$SECONDS rc=0
    "$@" || rc=$?
    if [[ $rc -ne 0 ]]; then
        printf -- '---- %s FAILED (exit %d, %ds)\n' "$name" "$rc" "$((SECONDS - start))"
        failed+=("$name (exit $rc)")
    else
        printf -- '---- %s ok (%ds)\n' "$name" "$((SECONDS - start))"
    fi
}

# summary: print what failed and return 1, or say all passed.
summary() {
    heading "summary ($1, ${SECONDS}s)"
    if [[ ${#failed[@]} -gt 0 ]]; then
        printf 'FAILED: %s\n' "${failed[@]}"
        return 1
    fi
    echo "all passed"
}

# has_path ARGS...: whether any argument names a test path (tests/api, tests/x.py::test_y).
has_path() {
    local arg
    for arg in "$@"; do
        [[ $arg != -* && -e ${arg%%::*} ]] && return 0
    done
    return 1
}

# run_pytest MARKEXPR DEFAULT_PATHS ARGS...: pytest on the tests MARKEXPR selects, on
# DEFAULT_PATHS (space-separated) unless ARGS name a path. Selecting nothing fails, unless
# ARGS named the paths (`scripts/test tests/unit`: the tests needing services are none).
run_pytest() {
    local marks="$1" paths="$2" rc=0
    shift 2
    if has_path "$@"; then
        pytest -m "$marks" --durations=25 "$@" || rc=$?
        if [[ $rc -eq 5 ]]; then
            echo "no test in the paths given is selected by -m '$marks': nothing to run here"
            return 0
        fi
        return "$rc"
    fi
    # shellcheck disable=SC2086  # the default paths are space-separated on purpose
    pytest -m "$marks" --durations=25 $paths "$@" || rc=$?
    if [[ $rc -eq 5 ]]; then
        echo "pytest selected no tests: that is a failure here" >&2
    fi
    return "$rc"
}

# run_pytest_halves MARKEXPR "PATHS" "PATHS" ARGS...: the two halves at once, in two pytest
# processes of their own temp dirs; their outputs one after the other. Fails when either
# fails or selects nothing.
run_pytest_halves() {
    local marks="$1" dir rc=0 half
    local -a halves=("$2" "$3") pids=()
    shift 3
    dir="$(mktemp -d)"
    for half in 0 1; do
        # shellcheck disable=SC2086  # the paths are space-separated on purpose
        pytest -m "$marks" --durations=25 --basetemp="$dir/tmp$half" ${halves[half]} "$@" \
            >"$dir/out$half" 2>&1 &
        pids+=($!)
    done
    for half in 0 1; do
        local code=0
        wait "${pids[half]}" || code=$?
        printf -- '---- pytest %s (exit %d)\n' "${halves[half]}" "$code"
        cat "$dir/out$half"
        [[ $code -eq 0 ]] || rc=1
    done
    rm -rf "$dir"
    return "$rc"
}

# Bytecode, and the test modules pytest rewrites, are cached outside the tree: with
# PYTHONDONTWRITEBYTECODE every run compiled and rewrote hundreds of modules again.
unset PYTHONDONTWRITEBYTECODE
export PYTHONPYCACHEPREFIX="$ROOT/.cache/pycache"
export PATH="$ROOT/.venv/bin:$PATH"
