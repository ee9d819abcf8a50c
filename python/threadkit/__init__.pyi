from os import PathLike
from typing import Any, Dict, Iterable, List, Literal, Mapping, Optional, Sequence, Union, overload

__version__: str

Thread = Union[Mapping[str, Any], str, bytes, bytearray, memoryview]
# A list of threads, a 🤗 datasets batch ({column: [values]}) or a pyarrow Table / RecordBatch.
Threads = Union[Iterable[Thread], Mapping[str, List[Any]], Any]
Path = Union[str, PathLike]
Profile = Literal["openai", "trl", "axolotl", "llama-factory", "raw"]
Tokenizer = Literal["o200k_base", "cl100k_base"]

class ThreadkitError(ValueError):
    index: int
    diagnostic: Dict[str, Any]
    def __init__(self, index: int, diagnostic: Dict[str, Any]) -> None: ...

@overload
def validate(threads: Threads, *, name: str = ..., data_root: Optional[Path] = ..., output: Literal["rows"] = ...,
             jobs: Optional[int] = ...) -> List[Dict[str, Any]]: ...
@overload
def validate(threads: Threads, *, name: str = ..., data_root: Optional[Path] = ..., output: Literal["arrow"],
             jobs: Optional[int] = ...) -> Any: ...
@overload
def quality(threads: Threads, *, name: str = ..., data_root: Optional[Path] = ..., output: Literal["rows"] = ...,
            jobs: Optional[int] = ...) -> List[Dict[str, Any]]: ...
@overload
def quality(threads: Threads, *, name: str = ..., data_root: Optional[Path] = ..., output: Literal["arrow"],
            jobs: Optional[int] = ...) -> Any: ...
@overload
def to_examples(threads: Threads, profile: Profile = ..., *, chat_template: Optional[Path] = ...,
                output: Literal["examples"] = ..., errors: Literal["skip", "raise"] = ..., tokenizer: Tokenizer = ...,
                max_tokens: Optional[int] = ..., status: Optional[Sequence[str]] = ...,
                quality: Literal["off", "warn", "deny"] = ..., unplaceable: Literal["drop", "skip"] = ...,
                llama_factory_calls: Literal["tool-call", "json"] = ..., data_root: Optional[Path] = ...,
                jobs: Optional[int] = ...) -> List[Dict[str, Any]]: ...
@overload
def to_examples(threads: Threads, profile: Profile = ..., *, chat_template: Optional[Path] = ...,
                output: Literal["lines"], errors: Literal["skip", "raise"] = ..., tokenizer: Tokenizer = ...,
                max_tokens: Optional[int] = ..., status: Optional[Sequence[str]] = ...,
                quality: Literal["off", "warn", "deny"] = ..., unplaceable: Literal["drop", "skip"] = ...,
                llama_factory_calls: Literal["tool-call", "json"] = ..., data_root: Optional[Path] = ...,
                jobs: Optional[int] = ...) -> List[str]: ...
@overload
def to_examples(threads: Threads, profile: Profile = ..., *, chat_template: Optional[Path] = ...,
                output: Literal["rows"], errors: Literal["skip", "raise"] = ..., tokenizer: Tokenizer = ...,
                max_tokens: Optional[int] = ..., status: Optional[Sequence[str]] = ...,
                quality: Literal["off", "warn", "deny"] = ..., unplaceable: Literal["drop", "skip"] = ...,
                llama_factory_calls: Literal["tool-call", "json"] = ..., data_root: Optional[Path] = ...,
                jobs: Optional[int] = ...) -> List[Dict[str, Any]]: ...
def report_schema() -> Any: ...
def count_tokens(texts: Iterable[str], tokenizer: Tokenizer = ..., *, jobs: Optional[int] = ...) -> List[int]: ...
