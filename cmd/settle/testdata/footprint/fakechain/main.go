// Command fakechain serves the JSON-RPC an EVM watcher reads, for several
// chain ids at once, each on a port of its own: a block every -block-time,
// empty (eth_getLogs answers nothing), headers chained by hash. It stands
// for "networks with watchers running" when settle's idle footprint is
// measured (../run.sh), without the cost of real nodes on the same machine.
//
//	go run ./cmd/settle/testdata/footprint/fakechain -chains 11155111,84532
//
// prints one line per chain, "<chain id> http://127.0.0.1:<port>", then
// serves until killed.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"math/big"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/hexutil"
	"github.com/ethereum/go-ethereum/core/types"
)

type chain struct {
	id      int64
	start   time.Time
	every   time.Duration
	mu      sync.Mutex
	headers []*types.Header
}

// head returns the headers up to now's block, making the missing ones.
func (c *chain) head() int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := int64(time.Since(c.start)/c.every) + 1
	for int64(len(c.headers)) < n {
		h := &types.Header{
			Number: big.NewInt(int64(len(c.headers))), Time: uint64(c.start.Unix()) + uint64(len(c.headers)),
			Difficulty: big.NewInt(0), GasLimit: 30_000_000, BaseFee: big.NewInt(1),
			UncleHash: types.EmptyUncleHash, TxHash: types.EmptyTxsHash, ReceiptHash: types.EmptyReceiptsHash,
			Extra: []byte(strconv.FormatInt(c.id, 10)),
		}
		if len(c.headers) > 0 {
			h.ParentHash = c.headers[len(c.headers)-1].Hash()
		}
		c.headers = append(c.headers, h)
	}
	return n - 1
}

func (c *chain) header(n int64) *types.Header {
	c.mu.Lock()
	defer c.mu.Unlock()
	if n < 0 || n >= int64(len(c.headers)) {
		return nil
	}
	return c.headers[n]
}

type request struct {
	ID     json.RawMessage   `json:"id"`
	Method string            `json:"method"`
	Params []json.RawMessage `json:"params"`
}

type response struct {
	JSONRPC string          `json:"jsonrpc"`
	ID      json.RawMessage `json:"id"`
	Result  any             `json:"result"`
	Error   *rpcError       `json:"error,omitempty"`
}

type rpcError struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
}

func (c *chain) call(r request) response {
	out := response{JSONRPC: "2.0", ID: r.ID}
	head := c.head()
	switch r.Method {
	case "eth_chainId":
		out.Result = hexutil.EncodeBig(big.NewInt(c.id))
	case "net_version":
		out.Result = strconv.FormatInt(c.id, 10)
	case "eth_blockNumber":
		out.Result = hexutil.EncodeUint64(uint64(head))
	case "eth_getBlockByNumber", "eth_getHeaderByNumber":
		var tag string
		if len(r.Params) > 0 {
			json.Unmarshal(r.Params[0], &tag)
		}
		n := head
		switch tag {
		case "latest", "pending", "safe", "finalized", "":
		case "earliest":
			n = 0
		default:
			v, err := hexutil.DecodeUint64(tag)
			if err != nil {
				out.Error = &rpcError{-32602, "bad block number"}
				return out
			}
			n = int64(v)
		}
		if h := c.header(n); h != nil {
			out.Result = h
		}
	case "eth_getBlockByHash":
		var hash common.Hash
		if len(r.Params) > 0 {
			json.Unmarshal(r.Params[0], &hash)
		}
		for n := head; n >= 0 && n > head-1000; n-- {
			if h := c.header(n); h.Hash() == hash {
				out.Result = h
				break
			}
		}
	case "eth_getLogs":
		out.Result = []any{}
	default:
		out.Error = &rpcError{-32601, "the method " + r.Method + " does not exist/is not available"}
	}
	return out
}

func (c *chain) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var raw json.RawMessage
	if err := json.NewDecoder(r.Body).Decode(&raw); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	if strings.HasPrefix(strings.TrimSpace(string(raw)), "[") {
		var batch []request
		json.Unmarshal(raw, &batch)
		out := make([]response, len(batch))
		for i, req := range batch {
			out[i] = c.call(req)
		}
		json.NewEncoder(w).Encode(out)
		return
	}
	var req request
	json.Unmarshal(raw, &req)
	json.NewEncoder(w).Encode(c.call(req))
}

func main() {
	ids := flag.String("chains", "11155111,84532", "chain ids, comma-separated (Sepolia and Base Sepolia by default)")
	every := flag.Duration("block-time", time.Second, "a block this often")
	flag.Parse()
	var wg sync.WaitGroup
	for _, s := range strings.Split(*ids, ",") {
		id, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
		if err != nil {
			log.Fatalf("chain id %q: %v", s, err)
		}
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			log.Fatal(err)
		}
		c := &chain{id: id, start: time.Now(), every: *every}
		c.head()
		fmt.Printf("%d http://%s\n", id, ln.Addr())
		wg.Go(func() { log.Fatal(http.Serve(ln, c)) })
	}
	wg.Wait()
}
