from memos_core import hookimpl
