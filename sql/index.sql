-- multinic-agent: index for the agent's per-node query (SPEC §2).
--
-- Every agent asks, every poll interval, for the rows of its node:
--   WHERE attached_node_name IN (full, short) OR attached_node_name LIKE 'short.%'
-- Both branches are range scans on this index, so the cost stays flat as the table grows.
--
-- MariaDB 10.1.4+ accepts IF NOT EXISTS, so this file can be applied again safely.
-- MySQL (5.7, 8.x) does not: there, drop "IF NOT EXISTS" and apply it once.
-- Apply:  mysql -h HOST -u ADMIN -p multinic_db < sql/index.sql

CREATE INDEX IF NOT EXISTS idx_multi_interface_attached_node_name
  ON multi_interface (attached_node_name);
