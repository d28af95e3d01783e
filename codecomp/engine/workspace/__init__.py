"""Project context for completion: an index of the whole workspace, not only the open files.

    from codecomp.engine.workspace import WorkspaceIndex, context_at
    index = WorkspaceIndex([root])
    index.start_build(progress=lambda done, total: ...)     # background thread; partial results visible
    index.open_document(path, text)                         # the editor's text replaces the disk copy
    index.identifiers(path, prefix)                         # project names with counts, kinds, relation flags
    index.ngram_scores(path, context_at(source, pstart, lang), candidates)
    index.ngram_scores(path, context_after(source, end, lang), candidates, after=True)  # the code after the word
    index.member_completion(path, source, pstart)           # receiver type -> declared members, exports, uses

Modules: `discovery` (which files, .gitignore, caps, compile flags), `lexical` (the per-file reading: tokens,
declarations, includes, imports, exports), `tables` (vocabulary and segmented count tables), `relations`
(include / import / node_modules resolution), `receiver` (receiver-type inference before the cursor), `index`
(`WorkspaceIndex`, the queries).  Torch-free, like the rest of the engine.
"""
from codecomp.engine.workspace.discovery import DiscoveryConfig, DiscoveryReport, discover, include_dirs
from codecomp.engine.workspace.index import (BuildReport, FileEntry, Member, MemberCompletion, ProjectIdentifier,
                                             WorkspaceIndex, context_after, context_at)
from codecomp.engine.workspace.lexical import Declaration, FileFacts, Include, analyze
from codecomp.engine.workspace.receiver import ReceiverType, enclosing_class, infer_receiver_type, receiver_at

__all__ = [
    "BuildReport", "Declaration", "DiscoveryConfig", "DiscoveryReport", "FileEntry", "FileFacts", "Include",
    "Member", "MemberCompletion", "ProjectIdentifier", "ReceiverType", "WorkspaceIndex", "analyze", "context_after",
    "context_at", "discover", "enclosing_class", "include_dirs", "infer_receiver_type", "receiver_at",
]
