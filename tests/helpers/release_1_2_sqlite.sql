-- The review log's and accounts' schema as release 1.2.0 created it (SQLAlchemy create_all on SQLite),
-- frozen here so the migration test can build a database exactly like the previous release left it.

CREATE TABLE images (
	sha256 VARCHAR(64) NOT NULL,
	original_name VARCHAR(512) NOT NULL,
	size_bytes INTEGER NOT NULL,
	width INTEGER NOT NULL,
	height INTEGER NOT NULL,
	stored_path VARCHAR(512) NOT NULL,
	first_seen_at DATETIME NOT NULL,
	PRIMARY KEY (sha256)
);

CREATE TABLE setting_changes (
	id INTEGER NOT NULL,
	"key" VARCHAR(64) NOT NULL,
	model_set VARCHAR(128) NOT NULL,
	model_fingerprint VARCHAR(160) NOT NULL,
	class_name VARCHAR(128) NOT NULL,
	old_value VARCHAR(256) NOT NULL,
	new_value VARCHAR(256) NOT NULL,
	changed_by VARCHAR(128) NOT NULL,
	reason TEXT NOT NULL,
	changed_at DATETIME NOT NULL,
	PRIMARY KEY (id)
);

CREATE TABLE inferences (
	id INTEGER NOT NULL,
	image_sha256 VARCHAR(64) NOT NULL,
	model_set VARCHAR(128) NOT NULL,
	model_version VARCHAR(64) NOT NULL,
	model_fingerprint VARCHAR(160) NOT NULL,
	model_trained BOOLEAN NOT NULL,
	class_names JSON NOT NULL,
	probabilities JSON NOT NULL,
	thresholds JSON NOT NULL,
	classes_present JSON NOT NULL,
	regions JSON NOT NULL,
	defective BOOLEAN NOT NULL,
	margin FLOAT NOT NULL,
	timings_ms JSON NOT NULL,
	device VARCHAR(32) NOT NULL,
	source VARCHAR(32) NOT NULL,
	verdict JSON NOT NULL,
	created_at DATETIME NOT NULL,
	PRIMARY KEY (id),
	FOREIGN KEY(image_sha256) REFERENCES images (sha256)
);

CREATE INDEX ix_inferences_created_at ON inferences (created_at);

CREATE INDEX ix_inferences_image_sha256 ON inferences (image_sha256);

CREATE TABLE reviews (
	id INTEGER NOT NULL,
	image_sha256 VARCHAR(64) NOT NULL,
	inference_id INTEGER NOT NULL,
	reviewer VARCHAR(128) NOT NULL,
	decision VARCHAR(16) NOT NULL,
	model_classes JSON NOT NULL,
	classes JSON NOT NULL,
	masks_rle JSON NOT NULL,
	reason TEXT NOT NULL,
	page VARCHAR(32) NOT NULL,
	decided_at DATETIME NOT NULL,
	PRIMARY KEY (id),
	FOREIGN KEY(image_sha256) REFERENCES images (sha256),
	FOREIGN KEY(inference_id) REFERENCES inferences (id)
);

CREATE INDEX ix_reviews_image_id ON reviews (image_sha256, id);

CREATE INDEX ix_reviews_decided_at ON reviews (decided_at);

CREATE TRIGGER reviews_no_update BEFORE UPDATE ON reviews BEGIN SELECT RAISE(ABORT, 'reviews are append-only'); END;

CREATE TRIGGER reviews_no_delete BEFORE DELETE ON reviews BEGIN SELECT RAISE(ABORT, 'reviews are append-only'); END;

CREATE TABLE users (
	username VARCHAR(64) NOT NULL,
	password_hash VARCHAR(255) NOT NULL,
	role VARCHAR(16) NOT NULL,
	active BOOLEAN NOT NULL,
	created_at DATETIME NOT NULL,
	created_by VARCHAR(64) NOT NULL,
	password_changed_at DATETIME NOT NULL,
	PRIMARY KEY (username)
);

CREATE TABLE user_sessions (
	token_sha256 VARCHAR(64) NOT NULL,
	username VARCHAR(64) NOT NULL,
	created_at DATETIME NOT NULL,
	expires_at DATETIME NOT NULL,
	revoked BOOLEAN NOT NULL,
	PRIMARY KEY (token_sha256),
	FOREIGN KEY(username) REFERENCES users (username)
);

CREATE INDEX ix_user_sessions_username ON user_sessions (username);
