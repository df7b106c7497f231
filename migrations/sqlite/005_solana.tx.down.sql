DROP TABLE solana_cursors;
--bun:split
DROP TABLE solana_references;
