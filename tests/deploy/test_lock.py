"""The image's dependency lock (requirements.lock, `nox -s lock`): exact pins with hashes for every runtime
dependency, within pyproject.toml's ranges, and the Containerfile installing from it and nothing else."""

from __future__ import annotations

import re
import shlex
import tomllib
from importlib import metadata

import pytest
from packaging.markers import Marker
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version
from tests.deploy.test_containerfile import final_stage

from udaconnect.settings import PROJECT_ROOT

LOCK = PROJECT_ROOT / "requirements.lock"
SHA256 = re.compile(r"^sha256:[0-9a-f]{64}$")
#: the image's interpreter and platform (python:3.11-slim on linux/amd64), for pyproject's markers
IMAGE_ENV = {"python_version": "3.11", "python_full_version": "3.11.0", "sys_platform": "linux",
             "platform_system": "Linux", "platform_machine": "x86_64", "os_name": "posix",
             "implementation_name": "cpython", "platform_python_implementation": "CPython"}


class Pin:
    """One entry of a lock: the requirement before its options, and its hashes."""

    def __init__(self, line: str) -> None:
        words = shlex.split(line)
        self.text = words[0]
        self.requirement = Requirement(words[0])
        self.options = words[1:]
        self.hashes = [word.removeprefix("--hash=") for word in self.options if word.startswith("--hash=")]

    @property
    def name(self) -> str:
        return canonicalize_name(self.requirement.name)

    @property
    def version(self) -> Version | None:
        specs = list(self.requirement.specifier)
        if len(specs) == 1 and specs[0].operator == "==" and "*" not in specs[0].version:
            return Version(specs[0].version)
        return None


def parse(text: str) -> list[Pin]:
    """The entries of a pip requirements file as pip reads it: continuation lines joined, comments dropped."""
    joined = re.sub(r"\\\n", " ", text)
    lines = (re.sub(r"(^|\s)#.*$", "", line).strip() for line in joined.splitlines())
    return [Pin(line) for line in lines if line]


def pyproject() -> dict:
    return tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text())


def wanted() -> list[Requirement]:
    """What the image must hold: pyproject's runtime dependencies and its build backend (the editable install's),
    those whose markers hold in the image."""
    toml = pyproject()
    requirements = [Requirement(r) for r in toml["project"]["dependencies"] + toml["build-system"]["requires"]]
    return [r for r in requirements if r.marker is None or r.marker.evaluate(IMAGE_ENV)]


def by_name(pins: list[Pin]) -> dict[str, Pin]:
    return {pin.name: pin for pin in pins}


def check_pins(pins: list[Pin]) -> None:
    assert pins, "the lock is empty"
    for pin in pins:
        assert pin.version is not None, f"{pin.text}: not pinned to one exact version with =="
        assert pin.requirement.url is None and not pin.requirement.extras, f"{pin.text}: not a plain name==version"
        assert pin.hashes, f"{pin.text}: no --hash"
        assert all(SHA256.match(h) for h in pin.hashes), f"{pin.text}: a hash that is not sha256: {pin.hashes}"
        assert pin.options == [f"--hash={h}" for h in pin.hashes], f"{pin.text}: options other than --hash"
    names = [pin.name for pin in pins]
    assert len(names) == len(set(names)), f"pinned twice: {sorted(n for n in names if names.count(n) > 1)}"


def check_covers(pins: list[Pin], requirements: list[Requirement]) -> None:
    locked = by_name(pins)
    for requirement in requirements:
        name = canonicalize_name(requirement.name)
        assert name in locked, f"{requirement}: in pyproject.toml, missing from requirements.lock (nox -s lock)"
        # an extra's own dependencies (pyjwt[crypto] -> cryptography), as the installed distribution declares them
        for extra in requirement.extras:
            for needed in metadata.requires(requirement.name) or []:
                dependency = Requirement(needed)
                if dependency.marker and dependency.marker.evaluate({**IMAGE_ENV, "extra": extra}) \
                        and not dependency.marker.evaluate({**IMAGE_ENV, "extra": ""}):
                    assert canonicalize_name(dependency.name) in locked, f"{requirement}: {dependency.name} unlocked"


def check_in_range(pins: list[Pin], requirements: list[Requirement]) -> None:
    locked = by_name(pins)
    for requirement in requirements:
        pin = locked.get(canonicalize_name(requirement.name))
        assert pin is not None and pin.version is not None, f"{requirement}: not pinned in requirements.lock"
        assert requirement.specifier.contains(pin.version, prereleases=True), \
            f"{pin.text} is outside pyproject.toml's {requirement} (nox -s lock)"


def test_every_entry_is_one_exact_version_with_sha256_hashes() -> None:
    check_pins(parse(LOCK.read_text()))


def test_every_runtime_dependency_and_the_build_backend_is_locked() -> None:
    requirements = wanted()
    assert {"functions-framework", "sqlalchemy", "pyjwt", "setuptools"} <= {r.name.lower() for r in requirements}
    check_covers(parse(LOCK.read_text()), requirements)


def test_every_locked_version_is_within_pyprojects_range() -> None:
    check_in_range(parse(LOCK.read_text()), wanted())


def test_the_lock_is_resolved_for_the_images_python() -> None:
    noxfile = (PROJECT_ROOT / "noxfile.py").read_text()
    locked_for = re.search(r'^IMAGE_PYTHON = \("([\d.]+)", "x86_64-unknown-linux-gnu"\)$', noxfile, re.M)
    base = next(rest for keyword, rest in final_stage() if keyword == "FROM")
    assert locked_for and base == f"docker.io/library/python:{locked_for[1]}-slim"
    assert IMAGE_ENV["python_version"] == locked_for[1]


def pip_installs() -> list[list[str]]:
    """Every `pip install` of the image's stage, as its arguments."""
    out = []
    for keyword, rest in final_stage():
        if keyword == "RUN":
            for command in re.split(r"&&|;|\|\|", rest):
                words = shlex.split(command)
                if words[:2] == ["pip", "install"] or words[:4] == ["python", "-m", "pip", "install"]:
                    out.append(words[words.index("install") + 1:])
    return out


def check_installs(installs: list[list[str]], copies: list[str]) -> None:
    assert installs, "the image installs nothing with pip"
    from_lock = [args for args in installs if "-r" in args]
    assert len(from_lock) == 1, f"the dependencies must come from one -r requirements.lock: {installs}"
    args = from_lock[0]
    assert args[args.index("-r") + 1] == LOCK.name and f"{LOCK.name} ./" in copies, args
    assert "--require-hashes" in args and "--no-deps" in args, f"not hash-checked, or resolving beyond the lock: {args}"
    for args in installs:
        # the project itself: without dependencies, built by the locked setuptools
        if args is not from_lock[0]:
            assert args.count("-e") == 1 and args[args.index("-e") + 1] == ".", f"an unlocked install: {args}"
            assert "--no-deps" in args and "--no-build-isolation" in args, f"the project pulls unlocked code: {args}"
        assert not [a for a in args if not a.startswith("-") and a not in (".", LOCK.name)], f"a package: {args}"


def test_the_containerfile_installs_the_lock_with_hashes_and_the_project_without_deps() -> None:
    copies = [rest for keyword, rest in final_stage() if keyword == "COPY"]
    check_installs(pip_installs(), copies)
    assert any(keyword == "RUN" and "pip check" in rest for keyword, rest in final_stage())


# The checks above, shown failing on broken inputs (each break is one a careless edit makes).
def broken_lock(edit: str) -> list[Pin]:
    text = LOCK.read_text()
    first = parse(text)[0]
    if edit == "an entry without its hashes":
        return parse(re.sub(rf"(?m)^{re.escape(first.text)} \\\n(    --hash=\S+ \\\n)*    --hash=\S+\n",
                            f"{first.text}\n", text, count=1))
    if edit == "a range instead of a pin":
        return parse(text.replace(first.text + " ", first.text.replace("==", ">=") + " ", 1))
    if edit == "an md5 hash":
        return parse(text.replace(f"--hash={first.hashes[0]}", "--hash=md5:0123456789abcdef0123456789abcdef", 1))
    raise AssertionError(edit)


@pytest.mark.parametrize("edit", ["an entry without its hashes", "a range instead of a pin", "an md5 hash"])
def test_a_broken_entry_fails(edit: str) -> None:
    with pytest.raises(AssertionError):
        check_pins(broken_lock(edit))


def test_a_dependency_missing_from_the_lock_fails() -> None:
    pins = [pin for pin in parse(LOCK.read_text()) if pin.name != "sqlalchemy"]
    with pytest.raises(AssertionError, match="sqlalchemy"):
        check_covers(pins, wanted())
    # pyjwt[crypto]'s cryptography is looked for too
    pins = [pin for pin in parse(LOCK.read_text()) if pin.name != "cryptography"]
    with pytest.raises(AssertionError, match="cryptography"):
        check_covers(pins, wanted())


def test_a_version_outside_pyprojects_range_fails() -> None:
    pins = parse(LOCK.read_text())
    kafka = by_name(pins)["kafka-python"]
    kafka.requirement = Requirement("kafka-python==3.1.0")  # pyproject: >=3.0,<3.1
    with pytest.raises(AssertionError, match="kafka-python"):
        check_in_range(pins, wanted())


@pytest.mark.parametrize("install", [
    "--no-deps -r requirements.lock",  # hashes not required: an unhashed line would pass
    "--require-hashes -r requirements.lock",  # resolves dependencies past the lock
    "--require-hashes --no-deps -r requirements.lock|-e .",  # the project's dependencies resolved at build time
    "--require-hashes --no-deps -r requirements.lock|--no-deps -e .",  # setuptools fetched unchecked
    "--require-hashes --no-deps -r requirements.lock|--no-deps --no-build-isolation -e .|gunicorn",
])
def test_a_containerfile_installing_unlocked_code_fails(install: str) -> None:
    with pytest.raises(AssertionError):
        check_installs([shlex.split(args) for args in install.split("|")], ["requirements.lock ./"])


def test_the_parser_reads_pip_syntax() -> None:
    pins = parse("# header\nA_b==1.0 \\\n    --hash=sha256:" + "0" * 64 + "\n    # via x\nc==2 --hash=sha256:"
                 + "1" * 64 + "  # note\n")
    assert [(p.name, str(p.version), len(p.hashes)) for p in pins] == [("a-b", "1.0", 1), ("c", "2", 1)]
    assert Marker('python_version >= "3.12"').evaluate(IMAGE_ENV) is False
