"""Keep Babel's locale data for the languages memos-web offers only (run by the Containerfile's build stage).

Babel ships data for about 800 locales (35 MB, a sixth of the image). memos-web formats dates in the
languages it offers and reads other ``Accept-Language`` tags only to find one of those; a tag whose
data is gone fails to parse and is passed over, as a language it does not offer would be. The
languages are read from memos-web itself, so one added there keeps its data. Without memos-web
nothing is removed.
"""

from __future__ import annotations

import sys
from pathlib import Path


def main() -> int:
    try:
        from babel import Locale, localedata
        from memos_web.i18n import LANGUAGES, babel_locale
    except ImportError as e:
        print(f"trim_babel: nothing removed ({e})")
        return 0
    languages = {babel_locale(code).language for code in LANGUAGES}
    data_dir = Path(localedata.__file__).with_name("locale-data")
    removed = 0
    for path in data_dir.glob("*.dat"):
        name = path.stem
        if name == "root" or name.split("_")[0] in languages:
            continue
        removed += path.stat().st_size
        path.unlink()
    # Every offered language must still load whole (its data, its parents', root's).
    for code in LANGUAGES:
        Locale.parse(code, sep="-").months  # noqa: B018 - loads the locale's data
    print(f"trim_babel: kept {sorted(languages)} and root, removed {removed / 1e6:.1f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
