-- multinic-agent: the agents' own table (SPEC §10), never the controller's. One row per node, written by
-- that node's agent: what it is, how its rows stand, and whether it holds a rollout slot.
--
-- A slot is `changing` while the node applies a change to NICs that already work (a lease: it counts only
-- until `slot_expires_at`, so a killed agent's slot frees itself), or `failed` after such a change failed
-- and was rolled back (it counts until the node's change succeeds, its rows change, or an operator runs
-- `multinic-agent fleet release NODE`). Placeholder: multinic_db, as in grant.sql.
CREATE TABLE IF NOT EXISTS multinic_agent_status (
  node_name VARCHAR(255) NOT NULL PRIMARY KEY,
  agent_version VARCHAR(32) NOT NULL,
  backend VARCHAR(16) NOT NULL,
  last_cycle_at TIMESTAMP(3) NULL,
  configured INT NOT NULL DEFAULT 0,
  failed INT NOT NULL DEFAULT 0,
  waiting INT NOT NULL DEFAULT 0,
  refused INT NOT NULL DEFAULT 0,
  slot VARCHAR(16) NULL,
  slot_reason VARCHAR(255) NULL,
  slot_since TIMESTAMP(3) NULL,
  slot_expires_at TIMESTAMP(3) NULL,
  last_error VARCHAR(1024) NULL,
  updated_at TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3) ON UPDATE CURRENT_TIMESTAMP(3),
  KEY idx_multinic_agent_status_slot (slot)
);
