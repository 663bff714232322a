// Package docstore reads and writes the app's document bucket. Documents live at
// "{user}/{bot}/documents/{filename}" and the app stores each chunk's source as
// "s3://{bucket}/{key}" (docs/bedrock-chat.md §2).
package docstore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// Store is one bucket.
type Store struct {
	client *s3.Client
	bucket string
}

// New returns a Store for bucket.
func New(client *s3.Client, bucket string) *Store { return &Store{client: client, bucket: bucket} }

// Bucket is the bucket's name.
func (s *Store) Bucket() string { return s.bucket }

// DocumentKey is compose_upload_document_s3_path.
func DocumentKey(userID, botID, filename string) string {
	return userID + "/" + botID + "/documents/" + filename
}

// SourceURI is what the app stores in items.source for a file.
func SourceURI(bucket, key string) string { return "s3://" + bucket + "/" + key }

// Object is one listed object.
type Object struct {
	Key          string
	Size         int64
	LastModified time.Time
}

// Walk calls fn for every object under prefix, one page of at most 1000 keys in memory at a time.
func (s *Store) Walk(ctx context.Context, prefix string, fn func(Object) error) error {
	p := s3.NewListObjectsV2Paginator(s.client, &s3.ListObjectsV2Input{Bucket: aws.String(s.bucket), Prefix: aws.String(prefix)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return fmt.Errorf("list s3://%s/%s: %w", s.bucket, prefix, err)
		}
		for _, o := range page.Contents {
			if err := fn(Object{Key: aws.ToString(o.Key), Size: aws.ToInt64(o.Size), LastModified: aws.ToTime(o.LastModified)}); err != nil {
				return err
			}
		}
	}
	return nil
}

// get starts a download of the object from byte from on. A resumed download (from > 0) asks for
// the version it started with (If-Match its ETag), so a file replaced meanwhile fails instead of
// being stitched from two versions.
func (s *Store) get(ctx context.Context, key string, from int64, etag string) (*s3.GetObjectOutput, error) {
	in := &s3.GetObjectInput{Bucket: aws.String(s.bucket), Key: aws.String(key)}
	if from > 0 {
		in.Range = aws.String(fmt.Sprintf("bytes=%d-", from))
		if etag != "" {
			in.IfMatch = aws.String(etag)
		}
	}
	out, err := s.client.GetObject(ctx, in)
	if err != nil {
		return nil, fmt.Errorf("get %s: %w", SourceURI(s.bucket, key), err)
	}
	return out, nil
}

// Put writes one object.
func (s *Store) Put(ctx context.Context, key string, body []byte, contentType string) error {
	_, err := s.client.PutObject(ctx, &s3.PutObjectInput{
		Bucket: aws.String(s.bucket), Key: aws.String(key), Body: bytes.NewReader(body),
		ContentLength: aws.Int64(int64(len(body))), ContentType: aws.String(contentType),
	})
	if err != nil {
		return fmt.Errorf("put %s: %w", SourceURI(s.bucket, key), err)
	}
	return nil
}

// EnsureBucket creates the bucket if it does not exist.
func (s *Store) EnsureBucket(ctx context.Context) error {
	_, err := s.client.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: aws.String(s.bucket)})
	if err == nil {
		return nil
	}
	_, err = s.client.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(s.bucket)})
	var owned *types.BucketAlreadyOwnedByYou
	if err != nil && !errors.As(err, &owned) {
		return fmt.Errorf("create bucket %s: %w", s.bucket, err)
	}
	return nil
}

// DeletePrefix deletes every object under prefix.
func (s *Store) DeletePrefix(ctx context.Context, prefix string) error {
	var batch []types.ObjectIdentifier
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		out, err := s.client.DeleteObjects(ctx, &s3.DeleteObjectsInput{Bucket: aws.String(s.bucket), Delete: &types.Delete{Objects: batch, Quiet: aws.Bool(true)}})
		if err != nil {
			return fmt.Errorf("delete objects in s3://%s/%s: %w", s.bucket, prefix, err)
		}
		if len(out.Errors) > 0 {
			e := out.Errors[0]
			return fmt.Errorf("delete %s: %s %s", aws.ToString(e.Key), aws.ToString(e.Code), aws.ToString(e.Message))
		}
		batch = batch[:0]
		return nil
	}
	err := s.Walk(ctx, prefix, func(o Object) error {
		batch = append(batch, types.ObjectIdentifier{Key: aws.String(o.Key)})
		if len(batch) == 1000 {
			return flush()
		}
		return nil
	})
	if err != nil {
		return err
	}
	return flush()
}

// CheckSize fails an object of size bytes over the limit for one file.
func CheckSize(uri string, size, max int64) error {
	if size > max {
		return fmt.Errorf("%s: %d bytes, larger than the %d-byte limit for one file (--max-file-bytes)", uri, size, max)
	}
	return nil
}

// maxResumes is how often ReadAll picks a download up again after its connection broke.
const maxResumes = 3

// ReadAll reads a whole object of at most limit bytes; larger objects fail without being read, so
// one huge upload cannot exhaust memory. A connection that breaks mid-body (the SDK retries a
// request, not the reading of its body) is resumed where it stopped with a ranged GET of the
// same version, up to maxResumes times.
func (s *Store) ReadAll(ctx context.Context, key string, limit int64) ([]byte, error) {
	uri := SourceURI(s.bucket, key)
	out, err := s.get(ctx, key, 0, "")
	if err != nil {
		return nil, err
	}
	size, etag := aws.ToInt64(out.ContentLength), aws.ToString(out.ETag)
	if err := CheckSize(uri, size, limit); err != nil {
		out.Body.Close()
		return nil, err
	}
	buf := bytes.NewBuffer(make([]byte, 0, max(size, 0)))
	for resumes := 0; ; resumes++ {
		_, err := io.Copy(buf, io.LimitReader(out.Body, limit+1-int64(buf.Len())))
		out.Body.Close()
		if int64(buf.Len()) > limit {
			return nil, fmt.Errorf("%s: larger than the %d-byte limit for one file (--max-file-bytes)", uri, limit)
		}
		if err == nil || (size > 0 && int64(buf.Len()) == size) {
			return buf.Bytes(), nil
		}
		if ctx.Err() != nil || resumes == maxResumes {
			return nil, fmt.Errorf("read %s: %w (%d of %d bytes read, resumed %d times)", uri, err, buf.Len(), size, resumes)
		}
		if out, err = s.get(ctx, key, int64(buf.Len()), etag); err != nil {
			return nil, fmt.Errorf("resume at byte %d: %w", buf.Len(), err)
		}
	}
}
