"""Reading declaration documents: TOML, JSON or YAML, with errors that name file and line.

YAML aliases are bounded (yaml_bounded.py): an anchor chain that would
expand to billions of nodes is refused before anything walks it.
"""

from __future__ import annotations

import json
import tomllib
from pathlib import Path
from typing import Any

import yaml

from . import boundedjson
from .confined import FileRefused, read_text
from .spec import PartnerSpecError
from .yaml_bounded import YamlRefused, load_yaml


def read_document(path: Path, root: Path | None = None) -> Any:
    """A TOML, JSON or YAML file, decoded; errors name the file and the line.

    Only a regular file of bounded size is read (`confined`), and with
    ``root`` only one inside that folder.
    """
    try:
        text = read_text(path, root)
    except FileRefused as exc:
        raise PartnerSpecError(f"{path}: {exc}") from None
    except OSError as exc:
        raise PartnerSpecError(f"{path}: cannot read: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise PartnerSpecError(f"{path}: not UTF-8 text") from None
    suffix = path.suffix.lower()
    try:
        if suffix == ".toml":
            return tomllib.loads(text)
        if suffix in {".yaml", ".yml"}:
            return load_yaml(text)
        return boundedjson.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise PartnerSpecError(f"{path}: not valid TOML: {exc}") from None
    except boundedjson.JsonTooDeep as exc:
        raise PartnerSpecError(f"{path}:{exc.lineno}: {exc.msg}") from None
    except json.JSONDecodeError as exc:
        raise PartnerSpecError(f"{path}: not valid JSON (line {exc.lineno}): {exc.msg}") from None
    except YamlRefused as exc:
        raise PartnerSpecError(f"{path}: {exc}") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f" (line {mark.line + 1})" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise PartnerSpecError(f"{path}: not valid YAML{line}: {problem}") from None
    except RecursionError:
        raise PartnerSpecError(f"{path}: nested too deeply to read") from None
