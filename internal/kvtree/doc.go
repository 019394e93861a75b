// Package kvtree is an ordered, in-memory key-value store that implements
// nanolib's storage/kv bucket interfaces, so NanoMDM's and KMFDDM's
// kv-based storages (their storage/kv packages) can run on it in place of
// their storage/inmem, which is nanolib's kvmap wrapped in kvtxn.
//
// Why not kvmap: its KeysPrefix scans every key of the bucket for each
// look-up, and NanoMDM looks up by prefix on every check-in, so enrolling
// a fleet is quadratic in its size. kvtree keeps keys in a B-tree
// (github.com/google/btree): a prefix look-up costs O(log n + k) and
// returns keys in ascending order.
//
// Why not kvtxn: its transactions lock keys one by one as they are
// written and hold them until commit, so two transactions writing the same
// keys in different orders deadlock, and a KeysPrefix cancelled while
// listing staged keys leaves a read lock held for good. Both hang a stack
// serving hundreds of concurrent requests. kvtree never holds a lock while
// the caller runs:
//
//   - Get, Has, Set and Delete hold the store's lock for the operation only.
//   - Keys and KeysPrefix copy the matching keys under a read lock into a
//     buffered channel that is already closed: no goroutine, nothing to
//     drain, and the caller may write to the store while it reads them.
//   - A transaction stages its writes privately (its reads see them) and
//     applies them all at once, under the store's write lock, on Commit.
//     Transactions on one Store run one at a time, as a single-writer
//     database's (bbolt's) do: Begin waits for the running one to commit
//     or roll back, or for its context to end. Operations outside
//     transactions never wait for one. So two transactions cannot lose
//     each other's read-modify-write (NanoMDM's command queue is a linked
//     list updated that way), and the only way to block is a transaction
//     that is never completed, which nanolib's Perform helpers rule out.
//
// Values are stored and returned as given, not copied, as kvmap does.
package kvtree
