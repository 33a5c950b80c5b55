-- multinic-agent: the desired-state table, as the OpenStack-side controller creates it (SPEC §2).
--
-- The controller owns this table; the agent only reads it and writes `netplan_success`.
-- Shipped so that a fresh database (tests, demos) has exactly the controller's shape.
-- Apply:  mysql -h HOST -u ADMIN -p multinic_db < sql/schema.sql

CREATE TABLE IF NOT EXISTS multi_interface (
  id INT PRIMARY KEY AUTO_INCREMENT,
  port_id VARCHAR(36) NOT NULL,
  subnet_id VARCHAR(36) NOT NULL,
  macaddress VARCHAR(17) NOT NULL,
  attached_node_name VARCHAR(255),
  netplan_success TINYINT(1) DEFAULT 0,
  address VARCHAR(15),
  cidr VARCHAR(18),
  mtu INT DEFAULT 1500,
  created_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP,
  modified_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP ON UPDATE CURRENT_TIMESTAMP,
  deleted_at TIMESTAMP NULL
);
