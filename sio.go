package realtime

// sioMessage is a message encoded as a Socket.IO EVENT packet.
type sioMessage struct{}
