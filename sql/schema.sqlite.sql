-- multinic-agent: the desired-state table for the embedded store (SQLite), the same shape as
-- sql/schema.sql (the controller's MySQL table), with its index (sql/index.sql).
--
-- The agent never creates this database: a missing file is an unreachable store, never an empty table.
-- `multinic-agent rows add` creates it with exactly this text; or by hand:
--   sqlite3 multinic.db < sql/schema.sqlite.sql

CREATE TABLE IF NOT EXISTS multi_interface (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  port_id VARCHAR(36) NOT NULL,
  subnet_id VARCHAR(36) NOT NULL,
  macaddress VARCHAR(17) NOT NULL,
  attached_node_name VARCHAR(255),
  netplan_success TINYINT(1) DEFAULT 0,
  address VARCHAR(15),
  cidr VARCHAR(18),
  mtu INT DEFAULT 1500,
  created_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP,
  modified_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP,
  deleted_at TIMESTAMP NULL
);

-- MySQL's ON UPDATE CURRENT_TIMESTAMP, unless the statement sets modified_at itself.
CREATE TRIGGER IF NOT EXISTS multi_interface_modified_at
  AFTER UPDATE ON multi_interface
  FOR EACH ROW WHEN NEW.modified_at IS OLD.modified_at
BEGIN
  UPDATE multi_interface SET modified_at = CURRENT_TIMESTAMP WHERE id = NEW.id;
END;

CREATE INDEX IF NOT EXISTS idx_multi_interface_attached_node_name
  ON multi_interface (attached_node_name);
