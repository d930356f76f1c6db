"""Every number search is tuned by, in one place, each with why it has its value.

The measurements behind them are in ``bench/README.md`` ("Where the time goes", "One
hostile message"); ``python bench/run.py --quick --only search`` measures again. The
other search modules read these as ``tuning.NAME`` when they run, so a test can change
one for a whole search.
"""

from __future__ import annotations

# ---------------------------------------------------------------- ranking

# The full-text columns, in the index's order, and their bm25 weights: a word in the
# subject says more about a message than the same word in its body; the name and the
# masked address weigh the same, so they score as one author field. The index's
# default rank (archive/db.py) uses the same weights, for other tools that sort by it.
FTS_COLUMNS = ("subject", "author", "masked_address", "body_text")
WEIGHTS = (10.0, 2.0, 2.0, 1.0)

# Ranked by relevance, at most this many hits are scored: the most recent ones. bm25
# costs about a microsecond per hit, and a word found in a quarter of a million
# messages would otherwise take a quarter of a second to rank; the bound keeps the
# cost of any ranking near that of a word in this many messages (measured on a million
# messages: 25,000 gives 22 ms for a >10% word, 10,000 gives 11 ms, at the price of
# older messages' recall). bm25 still weighs words by their frequency in the whole
# archive, so scores are those of an exact ranking; only the candidates are fewer.
RANK_BOUND = 25_000

# How many of the best bm25 hits are reranked by the words each message writes itself
# (not those it quotes): a page of results and a bit more, so that every page of 20
# sees one order, while reading each body costs little.
RERANK_POOL = 50
# How much of each body reranking reads (64 KB, as a blob): a pasted 20 MB log must not
# make ranking slow (reading a whole body took 54 ms; this, about 2 ms).
RERANK_TEXT = 65_536
# An opening post whose subject matches ranks as if its score were this many times
# better: announcements lead the replies that quote them.
ORIGINAL_POST_BOOST = 2.0

# ---------------------------------------------------------------- plans by date

# What a plan costs, in microseconds per step, measured on a million messages: sorting
# or ranking one full-text hit joined to its message, adding one hit to a temporary
# set, one step along the posted_at index, one probe of the index for one message
# (7 on an index merged into one segment, up to 150 on one that syncs left in many),
# and reading one message of a date range from the posted_at index.
COST_SORT = 1.2
COST_SET = 0.1
COST_STEP = 0.2
COST_PROBE = 20.0
COST_RANGE = 0.1
# Below this many hits, ranking or sorting all of them is always cheap (about 2 ms at
# COST_SORT), so no plan is weighed and the hits are not counted further.
FEW_HITS = 2000

# A rowid walk (newest first, reading the index from the end where syncs put the
# newest messages) first reads this many times the hits wanted, at least
# WALK_FIRST_BATCH: enough for the filters to leave a page in one read most times.
WALK_BATCH_FACTOR = 4
WALK_FIRST_BATCH = 100
# The walk gives up (and a plan by dates runs instead) when more messages than this are
# as new as the hits it keeps, or when more hits than this lie in the band of rowids it
# would have to read: rowids then do not follow dates closely enough to be worth it.
WALK_NEWER_CAP = 50_000
WALK_BAND_CAP = 10_000
# Which end of the rowids holds the newest messages is judged from this many of the
# newest, by where their median lies: within NEWEST_END_MARGIN of the span from an end.
NEWEST_SAMPLE = 10
NEWEST_END_MARGIN = 0.1
# A date range's band of rowids is used only when it spans at most this share of the
# archive's rowids: a wider band skips too little to pay for finding it.
BAND_SHARE = 0.5
# Counting the hits of a date range's query without word counts to weigh its band
# stops here: past it, the band is worth finding whatever the exact number.
BAND_COUNT_CAP = 1_000_000

# ---------------------------------------------------------------- reading results

# Hits read and snippeted at a time when they are streamed (iter_search,
# iter_search_threads): --limit 0 over a whole archive holds one batch, not every hit.
HIT_BATCH = 200
# Candidates whose identifiers (or dates left for later) are checked on their text at a
# time, in their final order, until enough have passed: a page of 20 needs one batch.
CHECK_BATCH = 50
# The bytes of a body a snippet may need: as far as the scan for a first match goes
# (archive.snippets.SCAN_CHARS) and the window after it.
SNIPPET_BYTES = 1_000_000 + 16_384
# Compiled regexes of identifiers kept for the SQL function that checks them: a query
# uses a handful; the cache saves compiling them once per row.
REGEX_CACHE = 256
