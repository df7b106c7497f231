// Package deploy holds what runs settle on a Linux server: a hardened
// systemd unit (settle.service), its environment file
// (settle.env.example) and a backup-and-restore check
// (backup-restore.sh). Its tests check the unit with systemd's own tools.
package deploy
