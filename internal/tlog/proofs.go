package tlog

import (
	"context"
	"fmt"
	"sync"

	"github.com/transparency-dev/merkle/compact"
	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
	"github.com/transparency-dev/tessera/api"
	"github.com/transparency-dev/tessera/api/layout"
	"github.com/transparency-dev/tessera/client"
)

// nodeCache builds inclusion proofs for the log's own submissions. In an
// append-only tree the hash of a complete subtree never changes, so every
// node computed once is kept (bounded) and shared by all later proofs;
// tessera's ProofBuilder recomputes inner tile nodes for every proof and
// is not safe for concurrent use.
type nodeCache struct {
	read client.TileFetcherFunc

	mu    sync.Mutex
	nodes map[compact.NodeID][]byte
	tiles map[tileRef]*api.HashTile
}

type tileRef struct {
	level, index uint64
	p            uint8
}

// maxCachedNodes bounds the cache (about 100 MB); it is simply reset.
const maxCachedNodes = 1 << 20

func newNodeCache(read client.TileFetcherFunc) *nodeCache {
	return &nodeCache{read: read, nodes: make(map[compact.NodeID][]byte), tiles: make(map[tileRef]*api.HashTile)}
}

// reset drops everything, e.g. after a proof failed to verify.
func (c *nodeCache) reset() {
	c.mu.Lock()
	clear(c.nodes)
	clear(c.tiles)
	c.mu.Unlock()
}

// inclusion returns the inclusion proof of index in the tree of size.
func (c *nodeCache) inclusion(ctx context.Context, index, size uint64) ([][]byte, error) {
	nodes, err := proof.Inclusion(index, size)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.nodes) > maxCachedNodes {
		clear(c.nodes)
	}
	if len(c.tiles) > 64 {
		clear(c.tiles)
	}
	hashes := make([][]byte, len(nodes.IDs))
	for i, id := range nodes.IDs {
		if hashes[i], err = c.node(ctx, id, size); err != nil {
			return nil, err
		}
	}
	return nodes.Rehash(hashes, rfc6962.DefaultHasher.HashChildren)
}

// node returns the hash of a complete subtree of the tree of size. Nodes
// on tile boundaries are read from tiles; others are hashed from their
// children.
func (c *nodeCache) node(ctx context.Context, id compact.NodeID, size uint64) ([]byte, error) {
	if h, ok := c.nodes[id]; ok {
		return h, nil
	}
	var h []byte
	if id.Level%layout.TileHeight == 0 {
		level, index := uint64(id.Level/layout.TileHeight), id.Index/layout.TileWidth
		ref := tileRef{level, index, layout.PartialTileSize(level, index, size)}
		t, ok := c.tiles[ref]
		if !ok {
			raw, err := c.read(ctx, ref.level, ref.index, ref.p)
			if err != nil {
				return nil, fmt.Errorf("reading tile %d/%d: %w", ref.level, ref.index, err)
			}
			t = &api.HashTile{}
			if err := t.UnmarshalText(raw); err != nil {
				return nil, fmt.Errorf("parsing tile %d/%d: %w", ref.level, ref.index, err)
			}
			c.tiles[ref] = t
		}
		off := id.Index % layout.TileWidth
		if off >= uint64(len(t.Nodes)) {
			return nil, fmt.Errorf("tile %d/%d has %d nodes, need node %d", ref.level, ref.index, len(t.Nodes), off)
		}
		h = t.Nodes[off]
	} else {
		l, err := c.node(ctx, compact.NewNodeID(id.Level-1, 2*id.Index), size)
		if err != nil {
			return nil, err
		}
		r, err := c.node(ctx, compact.NewNodeID(id.Level-1, 2*id.Index+1), size)
		if err != nil {
			return nil, err
		}
		h = rfc6962.DefaultHasher.HashChildren(l, r)
	}
	c.nodes[id] = h
	return h, nil
}
