package server

import (
	"net/http"
	"net/url"

	"github.com/centrifugal/centrifuge"
)

// newCentrifuge serves centrifuge's WebSocket transport (JSON protocol) at
// /connection/websocket with its defaults: the user is the token query
// parameter, echo is an RPC answered with its own data, rooms are channels
// anyone may subscribe and publish to. With Redis it uses centrifuge's
// Redis broker, so publications reach the subscribers of every instance.
func newCentrifuge(opts Options) (*Server, error) {
	node, err := centrifuge.New(centrifuge.Config{LogLevel: centrifuge.LogLevelNone, Name: opts.Instance})
	if err != nil {
		return nil, err
	}
	if opts.Redis != "" {
		u, err := url.Parse(opts.Redis)
		if err != nil {
			return nil, err
		}
		shard, err := centrifuge.NewRedisShard(node, centrifuge.RedisShardConfig{Address: u.Host})
		if err != nil {
			return nil, err
		}
		broker, err := centrifuge.NewRedisBroker(node, centrifuge.RedisBrokerConfig{Prefix: opts.Prefix + "cf", Shards: []*centrifuge.RedisShard{shard}})
		if err != nil {
			return nil, err
		}
		node.SetBroker(broker)
	}
	node.OnConnect(func(client *centrifuge.Client) {
		client.OnSubscribe(func(_ centrifuge.SubscribeEvent, cb centrifuge.SubscribeCallback) {
			cb(centrifuge.SubscribeReply{}, nil)
		})
		client.OnPublish(func(_ centrifuge.PublishEvent, cb centrifuge.PublishCallback) {
			cb(centrifuge.PublishReply{}, nil)
		})
		client.OnRPC(func(e centrifuge.RPCEvent, cb centrifuge.RPCCallback) {
			cb(centrifuge.RPCReply{Data: e.Data}, nil)
		})
	})
	if err := node.Run(); err != nil {
		return nil, err
	}
	ws := centrifuge.NewWebsocketHandler(node, centrifuge.WebsocketConfig{CheckOrigin: func(*http.Request) bool { return true }})
	h := http.NewServeMux()
	h.Handle("/connection/websocket", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		token := r.URL.Query().Get("token")
		if token == "" {
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		ctx := centrifuge.SetCredentials(r.Context(), &centrifuge.Credentials{UserID: token})
		ws.ServeHTTP(w, r.WithContext(ctx))
	}))
	return &Server{Handler: h, Close: node.Shutdown}, nil
}
